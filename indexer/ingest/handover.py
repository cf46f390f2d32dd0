"""Handing pictures over to an embedding worker that cannot download them itself.

With ``index.embedding = "worker"`` another process embeds the queue, but some sources can be
fetched only here: Telegram files need the bot's token, which the worker does not have. So the
process that holds such a fetcher downloads the queued pictures of its scheme and stores their
bytes with them (``pending_data``, as if they had been handed over with the picture); the
worker embeds them without fetching anything, and the bytes go once the picture is embedded,
given up on or forgotten.

Downloads use the worker's fetch stage (:mod:`indexer.ingest.downloads`: a deadline per attempt, a
few at a time, a few per chat). A failed download counts as an attempt of the picture: a
permanent failure (Telegram refuses the file) fails it with the reason, another one is retried
after the queue's growing pause. A picture forgotten while it downloads gets no bytes: the
condition is in the statement that stores them. The bytes waiting for the worker are bounded
(:data:`MAX_WAITING_PICTURES`, :data:`MAX_WAITING_BYTES`), so a stopped worker does not fill
the disk: the loop takes more as the worker embeds them. SQLite holds every step, so killing
either process loses nothing: a download cut short is simply done again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from indexer.config import LimitsConfig
from indexer.embed.pipeline import Fetched
from indexer.ingest.background import BackgroundLoop
from indexer.ingest.downloads import Downloads
from indexer.parts import Parts
from indexer.records import PendingImage

log = logging.getLogger(__name__)

#: Pictures whose bytes wait for the worker, downloads in flight included, at most ...
MAX_WAITING_PICTURES = 64
#: ... and bytes waiting: no download starts while this many are stored.
MAX_WAITING_BYTES = 256 * 1024 * 1024
#: How often an idle loop looks again: the worker (another process) takes pictures without
#: telling this one, and retry pauses end.
POLL_SECONDS = 1.0


class HandOver(BackgroundLoop):
    """Downloads queued pictures of ``schemes`` (their fetchers registered) and keeps their
    bytes for the worker."""

    def __init__(self, limits: LimitsConfig, engine: Parts, schemes: Sequence[str]) -> None:
        super().__init__("handing pictures over to the worker", "indexer-hand-over")
        self._limits = limits
        self._engine = engine
        self._schemes = list(schemes)
        self._downloads = Downloads(engine.pipeline.fetch)
        self._idle = asyncio.Event()

    async def stop(self) -> None:
        """Stops; downloads in flight are dropped, their pictures stay queued."""
        await super().stop()
        await self._downloads.close()

    def wake(self) -> None:
        """Looks for work now: a picture was queued."""
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Waits until every picture that may be handed over now has been (or has failed)."""
        while True:
            await self._idle.wait()
            if not self._downloads and not await self._due(1):
                return
            self.wake()

    async def _round(self) -> None:
        """Starts the downloads there is room for and stores the ones that finished."""
        self._wake.clear()
        batch = await self._due(MAX_WAITING_PICTURES)
        if not batch and not self._downloads:
            self._idle.set()
            await self._pause(POLL_SECONDS)
            return
        self._idle.clear()
        for item, fetched in await self._downloads.collect([(item, None) for item in batch]):
            if fetched.data is None:
                await self._failed(item, fetched)
            elif not await self._engine.store.queue.hand_over(item.id, fetched.data):
                log.info("picture %d was forgotten while it downloaded", item.id)

    async def _due(self, limit: int) -> list[PendingImage]:
        """Up to ``limit`` pictures to download now, as far as the bound on waiting bytes allows."""
        queue = self._engine.store.queue
        pictures, size = await queue.handed_over()
        room = MAX_WAITING_PICTURES - pictures - len(self._downloads.busy_ids)
        if room <= 0 or size >= MAX_WAITING_BYTES:
            return []
        return await queue.next_pending(
            min(limit, room),
            self._schemes,
            exclude_ids=self._downloads.busy_ids,
            exclude_collections=self._downloads.full_collections,
            to_hand_over=True,
        )

    async def _failed(self, item: PendingImage, fetched: Fetched) -> None:
        """Counts the failed download as an attempt: fails the picture, or retries it later."""
        queue, most = self._engine.store.queue, self._limits.max_attempts
        if not await queue.begin_attempts([item.id], most):
            return  # given up on (after too many attempts) or no longer queued
        error = fetched.error or "unknown error"
        gave_up = await queue.mark_attempt_failed(
            item.id, error, permanent=fetched.permanent, max_attempts=most
        )
        log.info("picture %d %s: %s", item.id, "skipped" if gave_up else "will retry", error)
