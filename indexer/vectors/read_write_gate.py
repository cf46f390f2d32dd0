"""Many readers at once or one writer, for an object read in worker threads.

FAISS indexes may be searched (or serialised) by many threads at once, but never while they
change. Searches run in threads so the event loop stays free; changes run on the loop, short.
A reader counts as inside until its thread has finished, even when the task that started it
was cancelled: releasing when the task stops waiting would let a change start under a search
that is still running. That is why this is not an off-the-shelf asyncio read/write lock, whose
read side belongs to the awaiting task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


class ReadWriteGate:
    """Readers share, a writer is alone; a waiting writer goes before new readers.

    Writers first, so a flood of searches cannot hold back indexing for ever; a reader then
    waits at most for the reads already running and one short change. Callers serialise their
    writers among themselves (one waiting writer at a time is what the gate expects).
    """

    def __init__(self) -> None:
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0
        self._waiters: set[asyncio.Future[None]] = set()

    async def read(self, work: Callable[[], T]) -> T:
        """Runs ``work`` in a worker thread once no change is going on or waiting."""
        await self._wait_until(lambda: not self._writing and not self._writers_waiting)
        self._readers += 1
        future = asyncio.get_running_loop().run_in_executor(None, work)
        future.add_done_callback(self._reader_left)
        return await asyncio.shield(future)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Holds the gate alone: no reader's thread runs until the block is left."""
        self._writers_waiting += 1
        try:
            await self._wait_until(lambda: not self._writing and self._readers == 0)
        finally:
            self._writers_waiting -= 1
            self._wake()
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
            self._wake()

    def _reader_left(self, _: object) -> None:
        self._readers -= 1
        self._wake()

    async def _wait_until(self, ready: Callable[[], bool]) -> None:
        while not ready():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
