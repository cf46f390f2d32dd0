"""The indexer's public API: what the bot and the CLI call, one collection at a time.

A collection is a named set of pictures (the bot uses one per chat). Pictures handed to
:meth:`IndexService.add_image` are acknowledged at once (committed to SQLite) and embedded by a
background worker in micro-batches, so a burst of uploads neither blocks searches nor is lost
on a crash. Searches only ever look inside the collections they name.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from indexer.backends import VectorBackend, open_backend
from indexer.config import IndexerConfig
from indexer.downloads import Downloads
from indexer.embedder import Embedder
from indexer.errors import (
    BadQueryError,
    PictureNotFoundError,
    ReindexInProgressError,
    UnknownCollectionError,
)
from indexer.fusion import expand_query, reciprocal_rank_fusion
from indexer.metadata import (
    DATABASE_FILE,
    PICTURE_VECTORS,
    TEXT_VECTORS,
    EmbeddedImage,
    Forgotten,
    ImageFacts,
    ImageRecord,
    ImageText,
    MetadataStore,
    PendingImage,
)
from indexer.pipeline import EmbeddingPipeline, Fetcher

log = logging.getLogger(__name__)

#: How long the worker waits for more pictures to arrive before embedding a partial batch.
MICRO_BATCH_WINDOW_SECONDS = 0.05
#: How often an idle worker looks for queued pictures whose retry pause has ended.
_RETRY_POLL_SECONDS = 2.0


def retried_alone(batch: list[PendingImage]) -> list[PendingImage]:
    """The batch to work on: a picture tried before goes alone (its last attempt may have
    ended the process), so it cannot take a batch of innocent pictures down with it again."""
    retried = [item for item in batch if item.attempts > 0]
    return retried[:1] if retried else batch


@dataclass(frozen=True)
class AddResult:
    """What happened to a picture handed to :meth:`IndexService.add_image`."""

    outcome: Literal["queued", "repost", "known", "opted_out"]
    image_id: int | None = None
    original_id: int | None = None


@dataclass(frozen=True)
class SearchHit:
    """One search result: the picture's stored facts and how well it matched.

    ``score`` is a cosine similarity: of the query to the caption or tag in ``matched_text``
    when one matched, else of the query to the picture itself.
    """

    score: float
    image: ImageRecord
    matched_text: str | None = None


@dataclass(frozen=True)
class PictureQuery:
    """A picture someone searched with, embedded once: every page of its results reuses it.

    Only the vector and the picture's hash (to leave the picture itself out of its own
    results) are kept, never the picture's bytes.
    """

    vector: np.ndarray
    sha256: str


@dataclass(frozen=True)
class ReindexProgress:
    """Progress of a running reindex, reported after every batch."""

    done: int
    total: int
    failed: int
    elapsed_seconds: float

    @property
    def rate(self) -> float:
        """Pictures per second so far."""
        return self.done / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Estimated seconds left, once a rate is known."""
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@dataclass(frozen=True)
class CollectionStats:
    """What ``stats`` reports about one collection."""

    name: str
    images: int
    reposts: int
    pending: int
    failed: int
    forgotten: int
    needs_reindex: int
    tags: int
    model: str
    index_type: str
    index_vectors: int
    index_bytes: int
    last_indexed_at: float | None


ProgressCallback = Callable[[ReindexProgress], Awaitable[None]]


class IndexService:
    """Adds, searches, forgets and re-embeds pictures of named collections."""

    def __init__(
        self,
        config: IndexerConfig,
        pipeline: EmbeddingPipeline,
        metadata: MetadataStore,
        pictures: VectorBackend,
        texts: VectorBackend,
    ) -> None:
        self.config = config
        self._pipeline = pipeline
        self._metadata = metadata
        self._indexes = pictures
        self._texts = texts
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._closing = False
        self._reindexing: set[str] = set()
        self._worker: asyncio.Task[None] | None = None
        self._downloads = Downloads(self._pipeline.fetch)

    @classmethod
    async def open(
        cls, config: IndexerConfig, embedder: Embedder | None = None, *, embed: bool | None = None
    ) -> IndexService:
        """Loads the model (unless given), opens the stores, checks every index, starts work.

        ``embed`` says whether this process embeds queued pictures; by default it does unless
        ``index.embedding = "worker"`` leaves that to a worker process.
        """
        if embedder is None:
            embedder = await asyncio.to_thread(Embedder.load, config.model)
        metadata = await MetadataStore.open(config.storage.data_dir / DATABASE_FILE)
        backends: list[VectorBackend] = []
        try:
            for kind in (PICTURE_VECTORS, TEXT_VECTORS):
                backends.append(
                    await open_backend(config, metadata, kind, embedder.identity, embedder.dim)
                )
        except BaseException:
            for opened in backends:
                await opened.close()
            await metadata.close()
            raise
        pictures, texts = backends
        service = cls(config, EmbeddingPipeline(embedder, config.limits), metadata, pictures, texts)
        try:
            await service._check_collections()
        except BaseException:
            await service.close()
            raise
        if embed is None:
            embed = config.index.embedding == "in_process"
        if embed:
            service._worker = asyncio.create_task(service._work(), name="indexer-worker")
        return service

    async def __aenter__(self) -> IndexService:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Finishes the batch in progress, saves the indexes and closes the database.

        Queued pictures stay queued in SQLite and are embedded after the next start.
        """
        self._closing = True
        self._wake.set()
        if self._worker is not None:
            await self._worker
        await self._downloads.close()
        await self._indexes.close()
        await self._texts.close()
        await self._indexes.save_due(force=True)
        await self._texts.save_due(force=True)
        await self._metadata.close()
        self._pipeline.close()

    @property
    def model_id(self) -> str:
        """The identity of the model whose vectors this service searches."""
        return self._pipeline.embedder.identity

    def register_fetcher(self, scheme: str, fetcher: Fetcher) -> None:
        """Teaches the worker to fetch sources ``scheme:...`` (e.g. Telegram file ids)."""
        self._pipeline.register_fetcher(scheme, fetcher)
        self._wake.set()

    async def _check_collections(self) -> None:
        collections = await self._metadata.collections()
        await self._indexes.load_all(list(collections.values()))
        await self._texts.load_all(list(collections.values()))
        for name, collection_id in collections.items():
            counts = await self._metadata.counts(collection_id, self.model_id)
            if counts.without_vector:
                log.warning(
                    "collection %s: %d pictures were embedded by another model than %s and are "
                    "not searchable until it is reindexed",
                    name,
                    counts.without_vector,
                    self.model_id,
                )

    async def _collection_id(self, name: str) -> int:
        collection_id = await self._metadata.collection_id(name)
        if collection_id is None:
            raise UnknownCollectionError(name)
        return collection_id

    async def collections(self) -> list[str]:
        """Names of every collection that was ever given a picture."""
        return list(await self._metadata.collections())

    # Adding

    async def add_image(
        self, collection: str, facts: ImageFacts, data: bytes | None = None
    ) -> AddResult:
        """Acknowledges a picture for indexing; returns once it is safely recorded.

        ``data`` is needed only when ``facts.source`` cannot be fetched again later. A picture
        already in the collection (same Telegram ``file_unique_id``) is recorded as a repost
        without being fetched; identical bytes are detected after fetching.
        """
        collection_id = await self._metadata.ensure_collection(collection)
        if facts.poster_id is not None and await self._metadata.is_opted_out(
            collection_id, facts.poster_id
        ):
            return AddResult("opted_out")
        if await self._metadata.is_known_post(collection_id, facts):
            return AddResult("known")
        original = await self._metadata.find_original(
            collection_id, file_unique_id=facts.file_unique_id
        )
        image_id = await self._metadata.add_image(
            collection_id, facts, data=data, repost_of=original
        )
        if original is not None:
            return AddResult("repost", image_id, original)
        self._idle.clear()
        self._wake.set()
        return AddResult("queued", image_id)

    async def wait_idle(self) -> None:
        """Waits until every queued picture that can be fetched now has been processed."""
        while True:
            await self._idle.wait()
            if not await self._metadata.next_pending(
                1, self._pipeline.schemes
            ) and not await self._metadata.texts_without_vector(self.model_id, 1):
                await self._indexes.wait_growth()
                await self._texts.wait_growth()
                return
            self._idle.clear()
            self._wake.set()

    async def _work(self) -> None:
        """The background worker: embeds queued pictures in micro-batches until closed."""
        while not self._closing:
            self._wake.clear()
            batch = retried_alone(
                await self._metadata.next_pending(
                    self._pipeline.embedder.batch_size,
                    self._pipeline.schemes,
                    exclude_ids=self._downloads.busy_ids,
                    exclude_collections=self._downloads.full_collections,
                )
            )
            if not batch and await self._embed_texts_backlog_safely():
                continue
            if not batch and not self._downloads:  # else: collect the downloads in flight
                self._idle.set()
                await self._indexes.save_due(force=True)
                await self._texts.save_due(force=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), _RETRY_POLL_SECONDS)
                if not self._closing:
                    await asyncio.sleep(MICRO_BATCH_WINDOW_SECONDS)
                continue
            try:
                await self._index_batch(batch)
            except Exception:
                log.exception("indexing a batch of %d pictures failed; will retry", len(batch))
                for item in batch:
                    await self._metadata.mark_attempt_failed(
                        item.id,
                        "internal error while indexing",
                        permanent=False,
                        max_attempts=self.config.limits.max_attempts,
                    )
            await self._indexes.save_due()

    async def _index_batch(self, batch: Sequence[PendingImage]) -> None:
        """Count the attempt, fetch, de-duplicate, embed, commit to SQLite, then add to FAISS."""
        allowed = set(
            await self._metadata.begin_attempts(
                [item.id for item in batch], self.config.limits.max_attempts
            )
        )
        batch = [item for item in batch if item.id in allowed]
        stored = [await self._metadata.pending_data(item.id) for item in batch]
        to_embed: list[tuple[int, bytes]] = []
        first_of_hash: dict[tuple[int, str], int] = {}
        collected = await self._downloads.collect(list(zip(batch, stored, strict=True)))
        for item, result in collected:
            if result.data is None:
                await self._fail(item.id, result.error or "unknown error", result.permanent)
                continue
            key = (item.collection_id, result.sha256)
            original = first_of_hash.get(key) or await self._metadata.find_original(
                item.collection_id, sha256=result.sha256, other_than=item.id
            )
            if original is not None:
                await self._metadata.mark_repost(item.id, original, result.sha256, len(result.data))
                continue
            first_of_hash[key] = item.id
            to_embed.append((item.id, result.data))
        embedded, failures = await self._pipeline.embed(to_embed)
        for image_id, error in failures.items():
            await self._fail(image_id, error, permanent=True)
        await self._commit(embedded, {item.id: item.collection_id for item, _ in collected})

    async def _embed_texts_backlog_safely(self) -> bool:
        """The text backlog, where an unexpected error is logged and retried later.

        The worker must outlive any one failure: pictures keep being indexed meanwhile.
        """
        try:
            return await self._embed_texts_backlog()
        except Exception:
            log.exception("embedding captions and tags failed; will retry")
            return False

    async def _embed_texts_backlog(self) -> bool:
        """Embeds captions and tags that lack a vector of the current model; False if none.

        New pictures' captions arrive here, and so do all texts after a model change: they
        need no download, so they are re-embedded without a reindex.
        """
        texts = await self._metadata.texts_without_vector(
            self.model_id, self._pipeline.embedder.batch_size
        )
        if not texts:
            return False
        vectors = await self._pipeline.embed_texts([text.text for text in texts], background=True)
        await self._commit_texts(texts, vectors)
        return True

    async def _commit_texts(self, texts: Sequence[ImageText], vectors: np.ndarray) -> None:
        """Stores text vectors in SQLite and FAISS together, under each collection's lock."""
        by_collection: dict[int, list[int]] = {}
        for position, text in enumerate(texts):
            by_collection.setdefault(text.collection_id, []).append(position)
        for collection_id, positions in by_collection.items():
            async with self._texts.editing(collection_id) as index:
                await self._metadata.store_text_vectors(
                    [texts[p] for p in positions], vectors[positions], self.model_id
                )
                index.add(np.array([texts[p].id for p in positions], np.int64), vectors[positions])
            self._texts.grow_if_needed(collection_id)

    async def _fail(self, image_id: int, error: str, permanent: bool) -> None:
        gave_up = await self._metadata.mark_attempt_failed(
            image_id, error, permanent=permanent, max_attempts=self.config.limits.max_attempts
        )
        log.warning("picture %d %s: %s", image_id, "skipped" if gave_up else "will retry", error)

    async def _commit(self, embedded: list[EmbeddedImage], collection_of: dict[int, int]) -> None:
        """Stores vectors in SQLite and FAISS together, under each collection's lock."""
        by_collection: dict[int, list[EmbeddedImage]] = {}
        for item in embedded:
            by_collection.setdefault(collection_of[item.id], []).append(item)
        for collection_id, items in by_collection.items():
            async with self._indexes.editing(collection_id) as index:
                await self._metadata.mark_indexed(items, self.model_id)
                index.add(
                    np.array([item.id for item in items], dtype=np.int64),
                    np.stack([item.vector for item in items]),
                )
            self._indexes.grow_if_needed(collection_id)

    # Searching

    async def search_text(
        self, collections: Sequence[str], query: str, *, k: int = 10, offset: int = 0
    ) -> list[SearchHit]:
        """The pictures of ``collections`` that best match a description, best first.

        Captions and tags that match the query closely count too (see :mod:`indexer.fusion`).
        """
        query = self._checked_text(query, "query")
        collection_ids = await self._collection_ids(collections)
        vector = await self._pipeline.embed_texts([query])
        depth = k + offset
        texts = await self._matching_texts(collection_ids, query, vector, depth)
        matched_ids = list(texts)
        examples = await self._metadata.vectors_by_ids(matched_ids, self.model_id, PICTURE_VECTORS)
        expanded = expand_query(vector, np.array(list(examples.values()), np.float32))
        pictures = await self._ranked(self._indexes, collection_ids, expanded, depth + len(texts))
        picture_scores = {image_id: score for score, image_id in pictures}
        order = reciprocal_rank_fusion(
            [matched_ids, [image_id for _, image_id in pictures]],
            self.config.search.rank_fusion_k,
        )[offset:depth]
        records = await self._metadata.images(order)
        return [
            SearchHit(texts[i][0], records[i], texts[i][1])
            if i in texts
            else SearchHit(picture_scores[i], records[i])
            for i in order
            if i in records
        ]

    async def picture_query(self, data: bytes) -> PictureQuery:
        """Embeds a query picture; raises BadImageError for unusable bytes."""
        vector = await self._pipeline.embed_query_image(data)
        return PictureQuery(vector, hashlib.sha256(data).hexdigest())

    async def search_image(
        self,
        collections: Sequence[str],
        picture: bytes | PictureQuery,
        *,
        k: int = 10,
        offset: int = 0,
    ) -> list[SearchHit]:
        """The pictures of ``collections`` most similar to a picture, best first.

        The query picture itself (same bytes) is left out of its own results. Pass a
        :class:`PictureQuery` to search again without embedding the picture again.
        """
        collection_ids = await self._collection_ids(collections)
        if isinstance(picture, bytes):
            picture = await self.picture_query(picture)
        ranked = await self._ranked(self._indexes, collection_ids, picture.vector, k + offset + 1)
        records = await self._metadata.images([image_id for _, image_id in ranked])
        hits = [
            SearchHit(score, records[image_id])
            for score, image_id in ranked
            if image_id in records and records[image_id].sha256 != picture.sha256
        ]
        return hits[offset : offset + k]

    def _checked_text(self, text: str, what: str) -> str:
        """``text`` stripped, or a BadQueryError saying why it cannot be used."""
        text = text.strip()
        limit = self.config.limits.max_query_chars
        if not text:
            raise BadQueryError(f"the {what} is empty: describe the picture in words")
        if len(text) > limit:
            raise BadQueryError(
                f"the {what} is too long ({len(text):,} characters, at most {limit:,})"
            )
        return text

    async def _collection_ids(self, collections: Sequence[str]) -> list[int]:
        """Ids of the named collections that exist; an error if none of them does."""
        known = await self._metadata.collections()
        collection_ids = [known[name] for name in collections if name in known]
        if not collection_ids:
            raise UnknownCollectionError(", ".join(collections) or "(none)")
        return collection_ids

    async def _ranked(
        self, indexes: VectorBackend, collection_ids: Sequence[int], vector: np.ndarray, depth: int
    ) -> list[tuple[float, int]]:
        """The ``depth`` best (score, id) over several collections' indexes, best first."""
        scored: list[tuple[float, int]] = []
        for collection_id in collection_ids:
            scores, ids = await indexes.search(collection_id, vector, depth)
            scored += [(float(s), int(i)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
        scored.sort(key=lambda pair: -pair[0])
        return scored[:depth]

    async def _matching_texts(
        self, collection_ids: Sequence[int], query: str, vector: np.ndarray, depth: int
    ) -> dict[int, tuple[float, str]]:
        """Pictures whose caption or tag matches the query: id → (score, text), best first.

        A text matches when one contains the other (any case), or when their vectors are at
        least ``search.text_match_min`` alike. The score is the cosine of the two vectors;
        texts not embedded yet do not match.
        """
        ranked = await self._ranked(self._texts, collection_ids, vector, depth)
        semantic = [i for score, i in ranked if score >= self.config.search.text_match_min]
        lexical = await self._metadata.texts_containing(collection_ids, query, depth)
        texts = await self._metadata.texts(semantic)
        texts.update((text.id, text) for text in lexical)
        vectors = await self._metadata.vectors_by_ids(list(texts), self.model_id, TEXT_VECTORS)
        scored = sorted(
            ((float(vectors[i] @ vector[0]), texts[i]) for i in texts if i in vectors),
            key=lambda pair: -pair[0],
        )
        matches: dict[int, tuple[float, str]] = {}
        for score, text in scored:
            matches.setdefault(text.image_id, (score, text.text))
        return matches

    # Tagging

    async def tag_message(
        self, collection: str, message_id: int, text: str, tagged_by: int | None = None
    ) -> list[ImageText]:
        """Tags the pictures posted in one message; searchable by the tag at once."""
        collection_id = await self._collection_id(collection)
        ids = await self._metadata.ids_of_message(collection_id, message_id)
        return await self.tag(collection, ids, text, tagged_by)

    async def tag(
        self, collection: str, image_ids: Sequence[int], text: str, tagged_by: int | None = None
    ) -> list[ImageText]:
        """Gives pictures a tag (a name, a place, a joke); searchable by it at once.

        A repost is tagged through its original. Raises PictureNotFoundError when none of the
        ids is a searchable picture of the collection.
        """
        text = self._checked_text(text, "tag")
        collection_id = await self._collection_id(collection)
        originals = await self._metadata.live_originals(collection_id, image_ids)
        if not originals:
            raise PictureNotFoundError("there is no indexed picture there to tag")
        tags = [
            await self._metadata.add_tag(collection_id, image_id, text, tagged_by)
            for image_id in originals
        ]
        vectors = await self._pipeline.embed_texts([text] * len(tags))
        await self._commit_texts(tags, vectors)
        return tags

    # Forgetting

    async def forget(self, collection: str, image_ids: Sequence[int]) -> int:
        """Removes pictures (their reposts, captions and tags too); returns how many pictures."""
        collection_id = await self._collection_id(collection)
        async with (
            self._indexes.editing(collection_id) as pictures,
            self._texts.editing(collection_id) as texts,
        ):
            forgotten: Forgotten = await self._metadata.forget(collection_id, image_ids)
            pictures.remove(np.array(forgotten.images, dtype=np.int64))
            texts.remove(np.array(forgotten.texts, dtype=np.int64))
        return len(forgotten.images)

    async def forget_message(self, collection: str, message_id: int) -> int:
        """Removes the pictures posted in one message; returns how many were removed."""
        collection_id = await self._collection_id(collection)
        return await self.forget(
            collection, await self._metadata.ids_of_message(collection_id, message_id)
        )

    async def ids_of_source(self, collection: str, source: str) -> list[int]:
        """Ids of the pictures handed over from one source (e.g. ``file:/photos/a.jpg``)."""
        return await self._metadata.ids_of_source(await self._collection_id(collection), source)

    async def forget_source(self, collection: str, source: str) -> int:
        """Removes the pictures handed over from one source."""
        return await self.forget(collection, await self.ids_of_source(collection, source))

    async def forget_collection(self, collection: str) -> int:
        """Removes every picture of a collection, queued ones included (e.g. on a purge)."""
        collection_id = await self._collection_id(collection)
        return await self.forget(collection, await self._metadata.ids_of_collection(collection_id))

    async def move_collection(self, old: str, new: str) -> None:
        """Gives a collection a new name, merging it into ``new`` if that exists already.

        A Telegram group that becomes a supergroup gets a new chat id; its pictures follow.
        A plain rename keeps the collection's id, so its indexes stay as they are; a merge
        rebuilds both collections' indexes from SQLite (no re-embedding).
        """
        known = await self._metadata.collections()
        if old not in known or old == new:
            return
        if new not in known:
            await self._metadata.rename_collection(known[old], new)
            return
        await self._metadata.merge_collections(known[old], known[new])
        for backend in (self._indexes, self._texts):
            await backend.rebuild(known[old])
            await backend.rebuild(known[new])

    async def images(self, image_ids: Sequence[int]) -> dict[int, ImageRecord]:
        """The stored facts of pictures by id, e.g. to report why some failed."""
        return await self._metadata.images(image_ids)

    async def images_of_message(self, collection: str, message_id: int) -> list[ImageRecord]:
        """The pictures posted in one message (e.g. to check who posted them)."""
        collection_id = await self._collection_id(collection)
        ids = await self._metadata.ids_of_message(collection_id, message_id)
        return list((await self._metadata.images(ids)).values())

    async def opt_out(self, collection: str, poster_id: int) -> int:
        """Forgets everything a person posted and stops indexing their pictures."""
        collection_id = await self._metadata.ensure_collection(collection)
        await self._metadata.set_opted_out(collection_id, poster_id, True)
        return await self.forget(
            collection, await self._metadata.ids_of_poster(collection_id, poster_id)
        )

    async def opt_in(self, collection: str, poster_id: int) -> None:
        """Lets a person's future pictures be indexed again."""
        collection_id = await self._metadata.ensure_collection(collection)
        await self._metadata.set_opted_out(collection_id, poster_id, False)

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
            return await self._reindex(collection_id, progress)
        finally:
            self._reindexing.discard(collection)

    async def _reindex(
        self, collection_id: int, progress: ProgressCallback | None
    ) -> ReindexProgress:
        targets = await self._metadata.reindex_targets(collection_id)
        started = time.monotonic()
        done = failed = 0
        batch_size = self._pipeline.embedder.batch_size
        for start in range(0, len(targets), batch_size):
            batch = targets[start : start + batch_size]
            fetched = await self._pipeline.fetch_many([source for _, source in batch])
            ready = [
                (image_id, f.data)
                for (image_id, _), f in zip(batch, fetched, strict=True)
                if f.data is not None
            ]
            embedded, _ = await self._pipeline.embed(ready)
            await self._metadata.store_vectors(embedded, self.model_id)
            done += len(batch)
            failed += len(batch) - len(embedded)
            report = ReindexProgress(done, len(targets), failed, time.monotonic() - started)
            if progress is not None:
                await progress(report)
        await self._indexes.rebuild(collection_id)
        if failed == 0:
            await self._metadata.drop_other_models(collection_id, self.model_id)
            await self._indexes.delete_other_models(collection_id)
            await self._texts.delete_other_models(collection_id)
        return ReindexProgress(done, len(targets), failed, time.monotonic() - started)

    def is_reindexing(self, collection: str) -> bool:
        return collection in self._reindexing

    async def stats(self, collection: str) -> CollectionStats:
        """Counts, model and index facts of one collection."""
        collection_id = await self._collection_id(collection)
        counts = await self._metadata.counts(collection_id, self.model_id)
        index_type, vectors, size = await self._indexes.describe(collection_id)
        return CollectionStats(
            name=collection,
            images=counts.indexed,
            reposts=counts.reposts,
            pending=counts.pending,
            failed=counts.failed,
            forgotten=counts.forgotten,
            needs_reindex=counts.without_vector,
            tags=await self._metadata.count_tags(collection_id),
            model=self.model_id,
            index_type=index_type,
            index_vectors=vectors,
            index_bytes=size,
            last_indexed_at=counts.last_indexed_at,
        )
