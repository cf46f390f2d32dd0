"""What ``stats`` and ``list`` show of a collection, read from the store: one implementation,
shared by :class:`~indexer.service.IndexService` and the command line's model-free path
(:mod:`indexer.cli.without_model`), so both print the same numbers.

Nothing here runs the model: the index facts are handed in by whoever holds the vector index,
and the thresholds come from the model's stored calibration.
"""

from __future__ import annotations

from dataclasses import replace

from indexer.config import SearchConfig
from indexer.model.calibration import method_id
from indexer.records import Calibration, CollectionStats, ListedPicture, PictureFilter, Thresholds
from indexer.store import Store
from indexer.text_cleaning import clean_optional


async def collection_stats(
    store: Store,
    name: str,
    collection_id: int,
    model_id: str,
    index: tuple[str, int, int],
    thresholds: Thresholds,
    *,
    max_attempts: int,
) -> CollectionStats:
    """Counts, model and index facts of one collection; ``index`` is what the picture index's
    ``describe`` says (type, vectors, bytes on disk); a picture whose reading failed
    ``max_attempts`` times counts as unreadable."""
    counts = await store.pictures.counts(collection_id, model_id)
    index_type, vectors, size = index
    return CollectionStats(
        name=name,
        images=counts.indexed,
        reposts=counts.reposts,
        pending=counts.pending,
        failed=counts.failed,
        forgotten=counts.forgotten,
        needs_reindex=counts.without_vector,
        tags=await store.texts.count_tags(collection_id),
        model=model_id,
        index_type=index_type,
        index_vectors=vectors,
        index_bytes=size,
        last_indexed_at=counts.last_indexed_at,
        thresholds=thresholds,
        readings=await store.readings.counts(collection_id, max_attempts),
    )


async def listed_pictures(
    store: Store, collection_id: int, wanted: PictureFilter
) -> list[ListedPicture]:
    """The collection's pictures that pass ``wanted``, oldest first, with their tags and the
    words read in them."""
    wanted = replace(
        wanted, poster=clean_optional(wanted.poster), contains=clean_optional(wanted.contains)
    )
    records = await store.pictures.matching(collection_id, wanted)
    ids = [record.id for record in records]
    tags = await store.texts.tags_of(ids)
    words = await store.readings.words_of(ids)
    return [
        ListedPicture(record, tags.get(record.id, []), words.get(record.id)) for record in records
    ]


def thresholds_for(calibration: Calibration, search: SearchConfig) -> Thresholds:
    """The thresholds in force: the configured values over the model's calibrated ones."""
    return Thresholds.choose(
        calibration,
        text_match_min=search.text_match_min,
        picture_match_min=search.picture_match_min,
    )


async def stored_thresholds(store: Store, model_id: str, search: SearchConfig) -> Thresholds | None:
    """The thresholds in force for ``model_id`` from its stored calibration; None when it was
    never calibrated on this data folder (by the current method), so only the model can say."""
    calibration = await store.calibrations.get(model_id, method_id())
    return None if calibration is None else thresholds_for(calibration, search)
