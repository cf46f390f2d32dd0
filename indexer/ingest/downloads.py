"""The fetch stage of the worker and of reindex: downloads that never hold up other pictures.

A batch used to wait for every one of its downloads, so one file that hangs (a dead
connection, a slow server) stalled indexing for every chat. Here each download is a task of
its own (with the pipeline's deadline per attempt); a batch waits for its downloads only a
short while (:data:`PATIENCE_SECONDS`), and the ones still running carry on in the background
while the worker takes other pictures. Downloads run a few at a time in all, and only a few per
collection, so one chat's stuck files cannot take every slot; the worker does not pick more of
a collection's pictures while it has that many in flight. A reindex (one collection) uses a
:class:`Downloads` of its own the same way, so a hanging file holds up only itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from indexer.embed.pipeline import Fetched
from indexer.records import PendingImage

#: Downloads running at once, in all ...
CONCURRENT_DOWNLOADS = 16
#: ... and of one collection (in flight, counting those waiting for a slot).
DOWNLOADS_PER_COLLECTION = 4
#: How long a batch waits for its own downloads before going on with those that finished.
PATIENCE_SECONDS = 0.5


class Downloads:
    """Fetches queued pictures for the worker; results are collected whenever they are done."""

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[Fetched]],
        *,
        concurrency: int = CONCURRENT_DOWNLOADS,
        per_collection: int = DOWNLOADS_PER_COLLECTION,
    ) -> None:
        self._fetch = fetch
        self._slots = asyncio.Semaphore(concurrency)
        self._per_collection = per_collection
        self._running: dict[int, tuple[PendingImage, asyncio.Task[Fetched]]] = {}

    @property
    def busy_ids(self) -> list[int]:
        """Pictures being downloaded, or downloaded and not yet collected."""
        return list(self._running)

    @property
    def full_collections(self) -> list[int]:
        """Collections with as many downloads in flight as one may have."""
        counts: dict[int, int] = {}
        for item, _ in self._running.values():
            counts[item.collection_id] = counts.get(item.collection_id, 0) + 1
        return [cid for cid, count in counts.items() if count >= self._per_collection]

    def __bool__(self) -> bool:
        return bool(self._running)

    async def collect(
        self, batch: Sequence[tuple[PendingImage, bytes | None]]
    ) -> list[tuple[PendingImage, Fetched]]:
        """Starts downloading the batch, then returns every download that is done by now.

        Pictures with bytes at hand (handed over with them) need no download. The batch's own
        downloads are waited for up to :data:`PATIENCE_SECONDS`; with no batch, until any
        running download finishes, as long as that.
        """
        ready = [(item, Fetched(data=data)) for item, data in batch if data is not None]
        started = [
            self._start(item)
            for item, data in batch
            if data is None and item.id not in self._running
        ]
        waiting = started or [task for _, task in self._running.values()]
        if waiting:
            await asyncio.wait(
                waiting,
                timeout=PATIENCE_SECONDS,
                return_when=asyncio.ALL_COMPLETED if started else asyncio.FIRST_COMPLETED,
            )
        for image_id, (item, task) in list(self._running.items()):
            if task.done():
                del self._running[image_id]
                ready.append((item, task.result()))
        return ready

    async def close(self) -> list[int]:
        """Stops the downloads in flight (their pictures stay queued); returns their ids."""
        for _, task in self._running.values():
            task.cancel()
        for _, task in self._running.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        dropped = list(self._running)
        self._running.clear()
        return dropped

    def _start(self, item: PendingImage) -> asyncio.Task[Fetched]:
        task = asyncio.create_task(self._download(item.source), name=f"download-{item.id}")
        self._running[item.id] = (item, task)
        return task

    async def _download(self, source: str) -> Fetched:
        async with self._slots:
            return await self._fetch(source)
