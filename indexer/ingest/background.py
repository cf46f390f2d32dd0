"""Background loops of rounds (the worker, the hand-over) that outlive any one failure.

A loop runs its round again and again in a task of its own until stopped, rests between
rounds when there is nothing to do, and is woken early by new work. A round that fails (a full
disk, a store error) is logged once and retried after a growing pause until it works again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from indexer.errors import IndexerError

log = logging.getLogger(__name__)

#: The pause after a failed round doubles from the first to the last value while it fails.
_TROUBLE_PAUSE_SECONDS = (1.0, 60.0)


class RepeatedFailure:
    """A fault that repeats round after round: logged once, retried after a growing pause."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._failures = 0

    def failed(self, exc: Exception) -> float:
        """Logs the first failure of a run of them; returns how long to pause."""
        if self._failures == 0:
            log.error(
                "%s failed (%s: %s); retrying with a growing pause until it works again",
                self._what,
                type(exc).__name__,
                exc,
                exc_info=not isinstance(exc, OSError | IndexerError),
            )
        self._failures += 1
        first, most = _TROUBLE_PAUSE_SECONDS
        return float(min(most, first * 2 ** (self._failures - 1)))

    def cleared(self) -> None:
        if self._failures:
            log.info("%s works again after %d failed rounds", self._what, self._failures)
        self._failures = 0


class BackgroundLoop:
    """A loop of :meth:`_round` calls in a background task, from :meth:`start` to :meth:`stop`."""

    def __init__(self, what: str, task_name: str) -> None:
        self._what = what
        self._task_name = task_name
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts the loop (once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._rounds(), name=self._task_name)

    async def stop(self) -> None:
        """Lets the round in progress finish, then ends the loop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _round(self) -> None:
        raise NotImplementedError

    async def _rounds(self) -> None:
        trouble = RepeatedFailure(self._what)
        while not self._closing:
            try:
                await self._round()
            except Exception as exc:
                await self._pause(trouble.failed(exc))
            else:
                trouble.cleared()

    async def _pause(self, seconds: float) -> None:
        """Rests up to ``seconds``; new work or :meth:`stop` ends the rest early."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
