"""The background worker: takes queued pictures, fetches, decodes, embeds and commits them.

Pictures handed to the service are acknowledged at once (committed to SQLite as ``pending``);
this loop embeds them in micro-batches, so a burst of uploads neither blocks searches nor is
lost on a crash. When no picture is due it embeds the caption and tag backlog, and saves the
vector indexes now and then. Every commit writes SQLite and the vector index together, under
the collection's lock, so the two never drift apart while the process runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import numpy as np

from indexer.config import LimitsConfig
from indexer.ingest.background import BackgroundLoop, RepeatedFailure
from indexer.ingest.downloads import Downloads
from indexer.parts import Parts
from indexer.records import TEXT_VECTORS, EmbeddedImage, ImageText, PendingImage

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


class Worker(BackgroundLoop):
    """Embeds queued pictures and texts in the background until stopped.

    An error of one round (a full disk refusing a save, a store error) is logged once, then
    the round is retried after a growing pause; pictures queued meanwhile are indexed as soon
    as the fault clears.
    """

    def __init__(self, limits: LimitsConfig, engine: Parts) -> None:
        super().__init__("indexing", "indexer-worker")
        self._limits = limits
        self._engine = engine
        self._idle = asyncio.Event()
        self._save_trouble = RepeatedFailure("saving the vector indexes")
        self._save_again_at = 0.0
        self._downloads = Downloads(engine.pipeline.fetch)

    async def stop(self) -> None:
        """Finishes the batch in progress; queued pictures stay queued in SQLite, and those
        whose download is dropped are not taken for crashes at the next start."""
        await super().stop()
        await self._engine.store.queue.end_attempts(await self._downloads.close())

    def wake(self, *, queued: bool = False) -> None:
        """Looks for work now (a fetcher was registered, or a picture was ``queued``)."""
        if queued:
            self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Waits until every queued picture that can be fetched now has been processed."""
        while True:
            await self._idle.wait()
            if not await self._engine.store.queue.next_pending(
                1, self._engine.pipeline.schemes
            ) and not await self._engine.store.texts.without_vector(self._engine.model_id, 1):
                for index in self._engine.indexes:
                    await index.wait_growth()
                return
            self._idle.clear()
            self._wake.set()

    async def _round(self) -> None:
        """One micro-batch of pictures; or, with none due, the text backlog or a rest."""
        self._wake.clear()
        batch = retried_alone(
            await self._engine.store.queue.next_pending(
                self._engine.pipeline.embedder.batch_size,
                self._engine.pipeline.schemes,
                exclude_ids=self._downloads.busy_ids,
                exclude_collections=self._downloads.full_collections,
            )
        )
        if not batch and await self._embed_texts_backlog_safely():
            return
        if not batch and not self._downloads:  # else: collect the downloads in flight
            self._idle.set()
            await self._save_indexes(force=True)
            await self._pause(_RETRY_POLL_SECONDS)
            if not self._closing:
                await asyncio.sleep(MICRO_BATCH_WINDOW_SECONDS)
            return
        try:
            await self._index_batch(batch)
        except Exception:
            log.exception("indexing a batch of %d pictures failed; will retry", len(batch))
            for item in batch:
                await self._engine.store.queue.mark_attempt_failed(
                    item.id,
                    "internal error while indexing",
                    permanent=False,
                    max_attempts=self._limits.max_attempts,
                )
        await self._save_indexes(force=False)

    async def _save_indexes(self, *, force: bool) -> None:
        """Saves the vector indexes now and then; a failed save is retried later.

        Saving is only a shortcut for the next start (SQLite has every vector), so a full
        disk must not stop indexing: the failure is logged once and the save retried after a
        growing pause, while pictures keep being indexed.
        """
        if time.monotonic() < self._save_again_at:
            return
        try:
            for index in self._engine.indexes:
                await index.save_due(force=force)
        except Exception as exc:
            self._save_again_at = time.monotonic() + self._save_trouble.failed(exc)
        else:
            self._save_trouble.cleared()

    async def _index_batch(self, batch: Sequence[PendingImage]) -> None:
        """Count the attempt, fetch, de-duplicate, embed, commit to SQLite, then add to the
        vector index. Downloads still running are collected by a later batch."""
        queue = self._engine.store.queue
        allowed = set(
            await queue.begin_attempts([item.id for item in batch], self._limits.max_attempts)
        )
        batch = [item for item in batch if item.id in allowed]
        stored = [await queue.pending_data(item.id) for item in batch]
        to_embed: list[tuple[int, bytes]] = []
        first_of_hash: dict[tuple[int, str], int] = {}
        collected = await self._downloads.collect(list(zip(batch, stored, strict=True)))
        for item, result in collected:
            if result.data is None:
                await self._fail(item.id, result.error or "unknown error", result.permanent)
                continue
            key = (item.collection_id, result.sha256)
            original = first_of_hash.get(key) or await self._engine.store.pictures.find_original(
                item.collection_id, sha256=result.sha256, other_than=item.id
            )
            if original is not None and await self._engine.store.queue.mark_repost(
                item.id, original, result.sha256, len(result.data)
            ):
                continue
            first_of_hash[key] = item.id
            to_embed.append((item.id, result.data))
        embedded, failures = await self._engine.pipeline.embed(to_embed)
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
        texts = await self._engine.store.texts.without_vector(
            self._engine.model_id, self._engine.pipeline.embedder.batch_size
        )
        if not texts:
            return False
        vectors = await self._engine.pipeline.embed_texts(
            [text.text for text in texts], background=True
        )
        await self.commit_texts(texts, vectors)
        return True

    async def commit_texts(self, texts: Sequence[ImageText], vectors: np.ndarray) -> None:
        """Stores text vectors in SQLite and the index together, under each collection's lock.

        Only the vectors SQLite took enter the index: not those of forgotten pictures, and not
        a second copy of a text the caption backlog embedded at the same time as a ``/tag``.
        """
        by_collection: dict[int, list[int]] = {}
        for position, text in enumerate(texts):
            by_collection.setdefault(text.collection_id, []).append(position)
        for collection_id, positions in by_collection.items():
            async with self._engine.texts.editing(collection_id) as index:
                stored = set(
                    await self._engine.store.vectors.store(
                        TEXT_VECTORS,
                        [texts[p].id for p in positions],
                        vectors[positions],
                        self._engine.model_id,
                        replace=False,
                    )
                )
                kept = [p for p in positions if texts[p].id in stored]
                index.add(np.array([texts[p].id for p in kept], np.int64), vectors[kept])
            self._engine.texts.grow_if_needed(collection_id)

    async def _fail(self, image_id: int, error: str, permanent: bool) -> None:
        gave_up = await self._engine.store.queue.mark_attempt_failed(
            image_id, error, permanent=permanent, max_attempts=self._limits.max_attempts
        )
        # INFO, not WARNING: one bad picture is an expected outcome kept in its row (the CLI
        # reports it by path, the bot by reply); the bot logs INFO, the CLI shows it with -v.
        log.info("picture %d %s: %s", image_id, "skipped" if gave_up else "will retry", error)

    async def _commit(self, embedded: list[EmbeddedImage], collection_of: dict[int, int]) -> None:
        """Stores vectors in SQLite and the index together, under each collection's lock."""
        by_collection: dict[int, list[EmbeddedImage]] = {}
        for item in embedded:
            by_collection.setdefault(collection_of[item.id], []).append(item)
        for collection_id, items in by_collection.items():
            async with contextlib.AsyncExitStack() as held:
                # Forgetting takes these locks too (in this order), so what SQLite stored is
                # what still exists. Both are taken before the write: an index first loaded
                # from SQLite inside the block would hold the new vectors already.
                index = await held.enter_async_context(self._engine.pictures.editing(collection_id))
                frame_index = (
                    await held.enter_async_context(self._engine.frames.editing(collection_id))
                    if any(item.frames for item in items)
                    else None
                )
                stored = set(
                    await self._engine.store.queue.mark_indexed(items, self._engine.model_id)
                )
                kept = [item for item in items if item.id in stored]
                if kept:
                    index.add(
                        np.array([item.id for item in kept], dtype=np.int64),
                        np.stack([item.vector for item in kept]),
                    )
                clips = [item.id for item in kept if item.frames]
                if frame_index is not None and clips:
                    ids, vectors = await self._engine.store.vectors.frame_vectors(
                        clips, self._engine.model_id
                    )
                    frame_index.add(ids, vectors)
            self._engine.pictures.grow_if_needed(collection_id)
            self._engine.frames.grow_if_needed(collection_id)
