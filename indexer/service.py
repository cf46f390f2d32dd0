"""The indexer's public API: what the bot and the CLI call, one collection at a time.

A collection is a named set of pictures (the bot uses one per chat). Pictures handed to
:meth:`IndexService.add_image` are acknowledged at once (committed to SQLite) and embedded by
the background :class:`~indexer.ingest.worker.Worker`, so a burst of uploads neither blocks
searches nor is lost on a crash. Searches (:mod:`indexer.search.searcher`) only ever look inside
the collections they name. The bot imports this module, :mod:`indexer.records`,
:mod:`indexer.errors` and :mod:`indexer.config`, nothing else of the engine.

Length (a little over ~350 lines, on purpose): one short method per thing a caller does, so
the whole door is on one page; the work itself lives in the modules named above.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import replace

from indexer.config import IndexerConfig
from indexer.embed.pipeline import EmbeddingPipeline
from indexer.errors import (
    PictureNotFoundError,
    ReindexInProgressError,
    UnknownCollectionError,
)
from indexer.ingest.forgetting import forget_pictures
from indexer.ingest.handover import HandOver
from indexer.ingest.reading import WordReader
from indexer.ingest.reindex import ProgressCallback, Reindexer
from indexer.ingest.worker import Worker
from indexer.model.embedder import Embedder
from indexer.parts import Parts
from indexer.records import (
    FRAME_VECTORS,
    PICTURE_VECTORS,
    TEXT_VECTORS,
    AddResult,
    CollectionStats,
    Fetcher,
    ImageFacts,
    ImageRecord,
    ImageText,
    ListedPicture,
    ParsedQuery,
    PictureFilter,
    PictureQuery,
    ReindexProgress,
    SearchFilters,
    SearchHit,
    Thresholds,
)
from indexer.search.filters import parse_query
from indexer.search.searcher import NO_FILTERS, Searcher, checked_text
from indexer.store import Store
from indexer.store.summary import (
    collection_stats,
    listed_pictures,
    stored_thresholds,
    thresholds_for,
)
from indexer.text_cleaning import clean_optional, clean_text
from indexer.vectors.backend import VectorBackend, open_backend

#: ``Embedder`` is part of this door: a caller may load the model once and hand it to
#: :meth:`IndexService.open` (the bot's worker process, tests).
__all__ = ["Embedder", "IndexService", "ProgressCallback"]

log = logging.getLogger(__name__)


class IndexService:
    """Adds, searches, forgets and re-embeds pictures of named collections."""

    #: The similarity thresholds in force for this model (set by :meth:`open`).
    thresholds: Thresholds

    def __init__(
        self,
        config: IndexerConfig,
        pipeline: EmbeddingPipeline,
        store: Store,
        pictures: VectorBackend,
        texts: VectorBackend,
        frames: VectorBackend,
    ) -> None:
        self.config = config
        self._pipeline = pipeline
        self._store = store
        self._indexes = pictures
        self._texts = texts
        self._frames = frames
        #: The parts behind this API, for tools that time or inspect one step alone
        #: (benchmarks); callers that index and search never need them.
        self.engine = Parts(pipeline, store, pictures, texts, frames)
        self._worker = Worker(config.limits, self.engine)
        self._hand_over: HandOver | None = None
        self._reader: WordReader | None = None
        self._embeds = False
        self._search = Searcher(config.search, self.engine)
        self._reindexer = Reindexer(self.engine)
        self._reindexing: set[str] = set()
        self._closed = False

    @classmethod
    async def open(
        cls,
        config: IndexerConfig,
        embedder: Embedder | None = None,
        *,
        embed: bool | None = None,
        warn_about: Collection[str] | None = None,
    ) -> IndexService:
        """Loads the model (unless given), opens the stores, checks every index, starts work.

        ``embed`` says whether this process embeds queued pictures; by default it does unless
        ``index.embedding = "worker"`` leaves that to a worker process. Collections with
        pictures another model embedded are logged once: every one (the bot serves them all),
        or only those of ``warn_about`` (a command about one collection).
        """
        if embedder is None:
            embedder = await asyncio.to_thread(Embedder.load, config.model)
        store = await Store.open_in(config.storage.data_dir)
        backends: list[VectorBackend] = []
        pipeline: EmbeddingPipeline | None = None
        try:
            for kind in (PICTURE_VECTORS, TEXT_VECTORS, FRAME_VECTORS):
                backends.append(
                    await open_backend(config, store.vectors, kind, embedder.identity, embedder.dim)
                )
            pipeline = EmbeddingPipeline(embedder, config.limits)
            pictures, texts, frames = backends
            service = cls(config, pipeline, store, pictures, texts, frames)
        except BaseException:
            # Nothing opened outlives a failed open: the model thread and the database's
            # thread would outlast the process's end (see ModelThread).
            if pipeline is not None:
                pipeline.close()
            for opened in backends:
                await opened.close()
            await store.close()
            raise
        try:
            await service._check_collections(warn_about)
            service.thresholds = await service._calibrated_thresholds()
            service._search.thresholds = service.thresholds
        except BaseException:
            await service.close()
            raise
        if embed is None:
            embed = config.index.embedding == "in_process"
        if embed:
            service._worker.start()
            service._embeds = True
            service._start_reading(schemes=None)
        return service

    def _start_reading(self, schemes: Sequence[str] | None) -> None:
        """Starts the background reading of the words in pictures (``ocr.enabled``), for the
        sources of ``schemes`` (None: every source this process can fetch)."""
        if not self.config.ocr.enabled or self._reader is not None:
            return
        self._reader = WordReader(
            self.config.ocr,
            self.config.limits,
            self.engine,
            schemes=schemes,
            on_words=self._worker.wake,
        )
        self._reader.start()

    async def __aenter__(self) -> IndexService:
        return self

    async def __aexit__(self, error_type: type[BaseException] | None, *_: object) -> None:
        if error_type is None:
            await self.close()
            return
        # The error that ended the block is the one to report; a failing close only logs.
        try:
            await self.close()
        except Exception:
            log.exception("closing the index service failed as well")

    async def close(self) -> None:
        """Finishes the batch in progress, saves the indexes and closes the database.

        Queued pictures stay queued in SQLite and are embedded after the next start. Every
        part is closed even when one fails (a full disk refusing the last save); the first
        error is raised afterwards. Closing twice is harmless.
        """
        if self._closed:
            return
        self._closed = True
        async with contextlib.AsyncExitStack() as parts:
            parts.callback(self._pipeline.close)
            parts.push_async_callback(self._store.close)
            for backend in reversed(self.engine.indexes):
                # Closed after its final save: the save may still need the connection.
                parts.push_async_callback(backend.close)
                parts.push_async_callback(backend.save_due, True)
            parts.push_async_callback(self._worker.stop)
            if self._reader is not None:
                parts.push_async_callback(self._reader.stop)
            if self._hand_over is not None:
                parts.push_async_callback(self._hand_over.stop)

    async def _calibrated_thresholds(self) -> Thresholds:
        """The model's thresholds: stored in SQLite, else measured once
        (indexer/model/calibration.py)."""
        stored = await stored_thresholds(self._store, self.model_id, self.config.search)
        if stored is not None:
            return stored
        embedder = self._pipeline.embedder
        calibration = await asyncio.to_thread(lambda: embedder.calibration)
        await self._store.calibrations.put(self.model_id, calibration)
        return thresholds_for(calibration, self.config.search)

    @property
    def writes_committed(self) -> int:
        """Write transactions committed since opening: the bot tells a disk that refuses every
        write (retry the update later) from an update that alone cannot be stored (skip it)."""
        return self._store.writes_committed

    @property
    def model_id(self) -> str:
        """The identity of the model whose vectors this service searches."""
        return self._pipeline.embedder.identity

    def register_fetcher(self, scheme: str, fetcher: Fetcher) -> None:
        """Teaches the worker to fetch sources ``scheme:...`` (e.g. Telegram file ids)."""
        self._pipeline.register_fetcher(scheme, fetcher)
        self._worker.wake()

    @property
    def embeds(self) -> bool:
        """Whether this process embeds queued pictures (else a worker process does)."""
        return self._embeds

    def hand_over(self, *schemes: str) -> None:
        """Downloads queued pictures of ``schemes`` here, for a worker process that cannot
        fetch them (only the bot holds the Telegram token), and keeps their bytes with them
        until it has embedded them (:mod:`indexer.ingest.handover`). Their fetchers must be
        registered; it runs until :meth:`close`. Called once, after :meth:`open`."""
        self._hand_over = HandOver(self.config.limits, self.engine, schemes)
        self._hand_over.start()
        # The worker process cannot fetch these sources again: their words are read here.
        self._start_reading(schemes)

    async def _check_collections(self, warn_about: Collection[str] | None) -> None:
        collections = await self._store.collections.all()
        for backend in self.engine.indexes:
            await backend.load_all(list(collections.values()))
        await self._reindexer.warn_if_needed(
            {
                name: cid
                for name, cid in collections.items()
                if warn_about is None or name in warn_about
            }
        )

    async def _collection_id(self, name: str) -> int:
        collection_id = await self._store.collections.id_of(name)
        if collection_id is None:
            raise UnknownCollectionError(name)
        return collection_id

    async def collections(self) -> list[str]:
        """Names of every collection that was ever given a picture."""
        return list(await self._store.collections.all())

    # Adding

    async def add_image(
        self, collection: str, facts: ImageFacts, data: bytes | None = None
    ) -> AddResult:
        """Acknowledges a picture for indexing; returns once it is safely recorded.

        ``data`` is needed only when ``facts.source`` cannot be fetched again later. A picture
        already in the collection (same Telegram ``file_unique_id``) is recorded as a repost
        without being fetched; identical bytes are detected after fetching. The caption, the
        poster's name and @username are cleaned (:func:`clean_text`) before anything is stored.
        """
        facts = replace(
            facts,
            caption=clean_optional(facts.caption),
            poster_name=clean_optional(facts.poster_name),
            poster_username=clean_optional(facts.poster_username),
        )
        collection_id = await self._store.collections.ensure(collection)
        if facts.poster_id is not None and await self._store.collections.is_opted_out(
            collection_id, facts.poster_id
        ):
            return AddResult("opted_out")
        known = await self._store.queue.known_post(collection_id, facts)
        if known is not None:
            return AddResult(known)
        original = await self._store.pictures.find_original(
            collection_id, file_unique_id=facts.file_unique_id
        )
        image_id = await self._store.queue.add_image(
            collection_id, facts, data=data, repost_of=original
        )
        if image_id is None:
            return AddResult("opted_out")
        if original is not None:
            return AddResult("repost", image_id, original)
        self._worker.wake(queued=True)
        if self._reader is not None:
            self._reader.wake()
        if self._hand_over is not None:
            self._hand_over.wake()
        return AddResult("queued", image_id)

    async def wait_idle(self) -> None:
        """Waits until every queued picture that can be fetched now has been processed: embedded
        if this process embeds, handed over if it hands pictures over, and its words read
        (and embedded) if this process reads them."""
        if self._hand_over is not None:
            await self._hand_over.wait_idle()
        if self._embeds:
            await self._worker.wait_idle()
        if self._reader is not None:
            await self._reader.wait_idle()
            if self._embeds:
                await self._worker.wait_idle()

    # Searching

    def parse_query(self, text: str) -> ParsedQuery:
        """A query read into its words and its filters (``from:@ben last:7d kind:video``…,
        :mod:`indexer.search.filters`), with the operators that could not be read; the text is
        cleaned first. ``last:`` counts back from now, so a query is read once and its filters
        reused for every page."""
        return parse_query(clean_text(text), time.time())

    async def search_text(
        self,
        collections: Sequence[str],
        query: str,
        *,
        k: int = 10,
        offset: int = 0,
        filters: SearchFilters = NO_FILTERS,
    ) -> list[SearchHit]:
        """The pictures of ``collections`` that best match a description, best first, among
        those passing ``filters`` (applied before ranking, so ``k`` come back when ``k`` pass).

        Captions and tags that match the query closely count too (see :mod:`indexer.search.fusion`).
        With filters and no words, the pictures passing them are listed, newest first. Raises
        UnknownPosterError when a ``from:`` names nobody who posted in ``collections``.
        """
        collection_ids = await self._collection_ids(collections)
        filters = _cleaned(filters)
        if not clean_text(query).strip() and (filters.narrows or filters.newest):
            return await self._search.by_date(collection_ids, filters, k, offset)
        query = checked_text(query, "query", self.config.limits.max_query_chars)
        return await self._search.by_text(collection_ids, query, k, offset, filters)

    async def picture_query(self, data: bytes, words: str | None = None) -> PictureQuery:
        """Embeds a query picture once, for :meth:`search_image` and every page after it;
        raises BadImageError for unusable bytes.

        With ``words`` ("at sunset"), the query is the picture and the words as one vector
        ("like this one, but at sunset"; ``search.composed_text_weight``).
        """
        picture = await self._search.picture_query(data)
        if words is None or not clean_text(words).strip():
            return picture
        words = checked_text(words, "query", self.config.limits.max_query_chars)
        return await self._search.composed(picture, words)

    async def search_image(
        self,
        collections: Sequence[str],
        picture: bytes | PictureQuery,
        *,
        k: int = 10,
        offset: int = 0,
        include_self: bool = False,
        filters: SearchFilters = NO_FILTERS,
    ) -> list[SearchHit]:
        """The pictures of ``collections`` most similar to a picture, best first, among those
        passing ``filters``.

        The query picture itself (same bytes) is left out of its own results unless
        ``include_self``. Pass a :class:`PictureQuery` to search again without embedding the
        picture again.
        """
        collection_ids = await self._collection_ids(collections)
        if isinstance(picture, bytes):
            picture = await self.picture_query(picture)
        return await self._search.by_image(
            collection_ids, picture, k, offset, include_self, _cleaned(filters)
        )

    async def holds_picture(self, collection: str, picture: PictureQuery) -> bool:
        """Whether ``collection`` holds a searchable picture of exactly these bytes: the one
        :meth:`search_image` leaves out of its own results unless ``include_self``."""
        collection_id = await self._collection_id(collection)
        original = await self._store.pictures.find_original(collection_id, sha256=picture.sha256)
        return original is not None

    async def _collection_ids(self, collections: Sequence[str]) -> list[int]:
        """Ids of the named collections that exist; an error if none of them does."""
        known = await self._store.collections.all()
        collection_ids = [known[name] for name in collections if name in known]
        if not collection_ids:
            raise UnknownCollectionError(", ".join(collections) or "(none)")
        return collection_ids

    # Tagging

    async def tag_message(
        self, collection: str, message_id: int, text: str, tagged_by: int | None = None
    ) -> list[ImageText]:
        """Tags the pictures posted in one message; searchable by the tag at once."""
        collection_id = await self._collection_id(collection)
        ids = await self._store.pictures.ids_of_message(collection_id, message_id)
        return await self.tag(collection, ids, text, tagged_by)

    async def tag(
        self, collection: str, image_ids: Sequence[int], text: str, tagged_by: int | None = None
    ) -> list[ImageText]:
        """Gives pictures a tag (a name, a place, a joke); searchable by it at once.

        A repost is tagged through its original. Raises PictureNotFoundError when none of the
        ids is a searchable picture of the collection.
        """
        text = checked_text(text, "tag", self.config.limits.max_query_chars)
        collection_id = await self._collection_id(collection)
        originals = await self._store.pictures.live_originals(collection_id, image_ids)
        if not originals:
            raise PictureNotFoundError("there is no indexed picture there to tag")
        tags = [
            await self._store.texts.add_tag(collection_id, image_id, text, tagged_by)
            for image_id in originals
        ]
        vectors = await self._pipeline.embed_texts([text] * len(tags))
        await self._worker.commit_texts(tags, vectors)
        # A picture forgotten while its tag was embedded took the tag with it.
        kept = await self._store.texts.by_ids([tag.id for tag in tags])
        if not kept:
            raise PictureNotFoundError("the picture was forgotten meanwhile; nothing to tag")
        return [tag for tag in tags if tag.id in kept]

    # Forgetting

    async def forget(
        self, collection: str, image_ids: Sequence[int], *, author: int | None = None
    ) -> int:
        """Removes pictures (their reposts, captions, tags and clips' frames too); returns how
        many pictures. With ``author``, every caption and tag that person added to the
        collection goes too."""
        collection_id = await self._collection_id(collection)
        return await forget_pictures(
            self._store,
            self._indexes,
            self._texts,
            self._frames,
            collection_id,
            image_ids,
            author=author,
        )

    async def forget_message(self, collection: str, message_id: int) -> int:
        """Removes the pictures posted in one message; returns how many were removed."""
        collection_id = await self._collection_id(collection)
        return await self.forget(
            collection, await self._store.pictures.ids_of_message(collection_id, message_id)
        )

    async def ids_of_source(self, collection: str, source: str) -> list[int]:
        """Ids of the pictures handed over from one source (e.g. ``file:/photos/a.jpg``)."""
        collection_id = await self._collection_id(collection)
        return await self._store.pictures.ids_of_source(collection_id, source)

    async def forget_source(self, collection: str, source: str) -> int:
        """Removes the pictures handed over from one source."""
        return await self.forget(collection, await self.ids_of_source(collection, source))

    async def forget_collection(self, collection: str) -> int:
        """Removes every picture of a collection, queued ones included (e.g. on a purge)."""
        collection_id = await self._collection_id(collection)
        ids = await self._store.pictures.ids_of_collection(collection_id)
        return await self.forget(collection, ids)

    async def move_collection(self, old: str, new: str) -> None:
        """Gives a collection a new name, merging it into ``new`` if that exists already.

        A Telegram group that becomes a supergroup gets a new chat id; its pictures follow.
        A plain rename keeps the collection's id, so its indexes stay as they are; a merge
        rebuilds both collections' indexes (pictures, texts, clip frames) from SQLite (no
        re-embedding).
        """
        known = await self._store.collections.all()
        if old not in known or old == new:
            return
        if new not in known:
            await self._store.collections.rename(known[old], new)
            return
        await self._store.collections.merge(known[old], known[new])
        for backend in self.engine.indexes:
            await backend.rebuild(known[old])
            await backend.rebuild(known[new])

    async def images(self, image_ids: Sequence[int]) -> dict[int, ImageRecord]:
        """The stored facts of pictures by id, e.g. to report why some failed."""
        return await self._store.pictures.images(image_ids)

    async def list_pictures(self, collection: str, wanted: PictureFilter) -> list[ListedPicture]:
        """The collection's pictures that pass ``wanted``, oldest first, with their tags."""
        return await listed_pictures(self._store, await self._collection_id(collection), wanted)

    async def images_of_message(self, collection: str, message_id: int) -> list[ImageRecord]:
        """The pictures posted in one message (e.g. to check who posted them)."""
        collection_id = await self._collection_id(collection)
        ids = await self._store.pictures.ids_of_message(collection_id, message_id)
        return list((await self._store.pictures.images(ids)).values())

    async def opt_out(self, collection: str, poster_id: int) -> int:
        """Forgets everything a person posted and stops indexing their pictures."""
        collection_id = await self._store.collections.ensure(collection)
        await self._store.collections.set_opted_out(collection_id, poster_id, True)
        return await self.forget(
            collection,
            await self._store.pictures.ids_of_poster(collection_id, poster_id),
            author=poster_id,
        )

    async def opt_in(self, collection: str, poster_id: int) -> None:
        """Lets a person's future pictures be indexed again."""
        collection_id = await self._store.collections.ensure(collection)
        await self._store.collections.set_opted_out(collection_id, poster_id, False)

    # Reindexing and statistics
    async def reindex(
        self, collection: str, progress: ProgressCallback | None = None
    ) -> ReindexProgress:
        """Re-embeds every picture of a collection with the current model.

        Searches keep using the old index until the new one is complete; only one reindex
        per collection runs at a time.
        """
        collection_id = await self._collection_id(collection)
        if collection in self._reindexing:
            raise ReindexInProgressError(collection)
        self._reindexing.add(collection)
        try:
            return await self._reindexer.run(collection_id, progress)
        finally:
            self._reindexing.discard(collection)

    def is_reindexing(self, collection: str) -> bool:
        """Whether a reindex of the collection is running in this process."""
        return collection in self._reindexing

    async def stats(self, collection: str) -> CollectionStats:
        """Counts, model and index facts of one collection."""
        collection_id = await self._collection_id(collection)
        index = await self._indexes.describe(collection_id)
        return await collection_stats(
            self._store,
            collection,
            collection_id,
            self.model_id,
            index,
            self.thresholds,
            max_attempts=self.config.limits.max_attempts,
        )


def _cleaned(filters: SearchFilters) -> SearchFilters:
    """``filters`` with the names of its posters cleaned (:func:`clean_text`)."""
    return replace(filters, posters=tuple(clean_text(name) for name in filters.posters))
