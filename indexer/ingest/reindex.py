"""Re-embedding a collection with the current model, and noticing when one needs it.

Every stored vector carries its model's identity, so after a model change the pictures
embedded by another model are simply not searchable until a reindex re-embeds them; they are
never mixed with the new model's vectors.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from indexer.parts import Parts
from indexer.records import PICTURE_VECTORS, ReindexProgress

log = logging.getLogger(__name__)

ProgressCallback = Callable[[ReindexProgress], Awaitable[None]]


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
        batch_size = self._engine.pipeline.embedder.batch_size
        for start in range(0, len(targets), batch_size):
            batch = targets[start : start + batch_size]
            fetched = await self._engine.pipeline.fetch_many([source for _, source in batch])
            ready = [
                (image_id, f.data)
                for (image_id, _), f in zip(batch, fetched, strict=True)
                if f.data is not None
            ]
            embedded, _ = await self._engine.pipeline.embed(ready)
            await self._engine.store.vectors.store(
                PICTURE_VECTORS,
                [item.id for item in embedded],
                [item.vector for item in embedded],
                self._engine.model_id,
            )
            done += len(batch)
            failed += len(batch) - len(embedded)
            report = ReindexProgress(done, len(targets), failed, time.monotonic() - started)
            if progress is not None:
                await progress(report)
        await self._engine.pictures.rebuild(collection_id)
        if failed == 0:
            await self._engine.store.vectors.drop_other_models(collection_id, self._engine.model_id)
            await self._engine.pictures.delete_other_models(collection_id)
            await self._engine.texts.delete_other_models(collection_id)
        return ReindexProgress(done, len(targets), failed, time.monotonic() - started)
