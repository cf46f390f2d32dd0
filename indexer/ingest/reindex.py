"""Re-embedding a collection with the current model, and noticing when one needs it.

Every stored vector carries its model's identity, so after a model change the pictures
embedded by another model are simply not searchable until a reindex re-embeds them; they are
never mixed with the new model's vectors.

Pictures are fetched through :class:`~indexer.ingest.downloads.Downloads`, as the worker
fetches them: each download is a task with the pipeline's deadline, and whatever has arrived is
embedded while the rest carry on, so one file that hangs (a dead Telegram connection) holds up
only itself until its deadline fails it, not the pictures fetched after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from indexer.ingest.downloads import Downloads
from indexer.parts import Parts
from indexer.records import PendingImage, ReindexProgress

log = logging.getLogger(__name__)

ProgressCallback = Callable[[ReindexProgress], Awaitable[None]]

#: Downloads of one reindex running at once (Telegram limits how fast one bot may download).
REINDEX_DOWNLOADS = 8


class Reindexer:
    """Fetches, re-embeds and stores every indexed picture of a collection."""

    def __init__(self, engine: Parts) -> None:
        self._engine = engine

    async def warn_if_needed(self, collections: dict[str, int]) -> None:
        """Logs each collection with pictures another model embedded (unsearchable for now)."""
        for name, collection_id in collections.items():
            counts = await self._engine.store.pictures.counts(collection_id, self._engine.model_id)
            if counts.without_vector:
                log.warning(
                    "collection %s: %d pictures were embedded by another model than %s and are "
                    "not searchable until it is reindexed",
                    name,
                    counts.without_vector,
                    self._engine.model_id,
                )

    async def run(self, collection_id: int, progress: ProgressCallback | None) -> ReindexProgress:
        """Re-embeds the collection; searches use the old index until the new one is complete.

        The other models' vectors are dropped only when every picture was re-embedded, so a
        failed fetch never leaves a picture without any vector.
        """
        targets = await self._engine.store.pictures.reindex_targets(collection_id)
        started = time.monotonic()
        done = failed = 0
        in_flight = self._engine.pipeline.embedder.batch_size
        waiting = [PendingImage(image_id, collection_id, source, 0) for image_id, source in targets]
        waiting.reverse()  # popped from the end: first picture first
        downloads = Downloads(self._engine.pipeline.fetch, concurrency=REINDEX_DOWNLOADS)
        try:
            while waiting or downloads:
                room = in_flight - len(downloads.busy_ids)
                batch = [(waiting.pop(), None) for _ in range(min(room, len(waiting)))]
                collected = await downloads.collect(batch)
                if not collected:
                    continue
                ready = [(item.id, f.data) for item, f in collected if f.data is not None]
                embedded, _ = await self._engine.pipeline.embed(ready)
                await self._engine.store.vectors.store_pictures(embedded, self._engine.model_id)
                done += len(collected)
                failed += len(collected) - len(embedded)
                report = ReindexProgress(done, len(targets), failed, time.monotonic() - started)
                if progress is not None:
                    await progress(report)
        finally:
            await downloads.close()
        await self._engine.pictures.rebuild(collection_id)
        # Re-embedded clips' frames were stored under new ids: the frame index is built afresh.
        await self._engine.frames.rebuild(collection_id)
        if failed == 0:
            await self._engine.store.vectors.drop_other_models(collection_id, self._engine.model_id)
            for index in self._engine.indexes:
                await index.delete_other_models(collection_id)
        return ReindexProgress(done, len(targets), failed, time.monotonic() - started)
