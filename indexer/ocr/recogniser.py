"""The serving side of the recogniser: one child process, a deadline per picture, a restart
after a crash or a hang.

The OCR model runs in :mod:`indexer.ocr.child`, never in this process: a picture that crashes
the recogniser (a native library's fault) or makes it run forever ends only the child, which is
killed at :attr:`OcrConfig.seconds_per_picture` and started again for the next picture; the
picture that did it fails alone (:class:`ReadingFailed`), and the caller counts and retries it
as any failed step.

The child can be paused in the middle of a picture (:meth:`Recogniser.pause`, SIGSTOP) while
pictures wait to be embedded, and resumed afterwards; the time it spends paused does not count
against its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import struct
import sys
import time
from dataclasses import dataclass
from typing import Any

from indexer.config import LimitsConfig, OcrConfig
from indexer.text_cleaning import clean_text

#: How long the child may take to load the recogniser (a cold disk, a slow machine).
START_SECONDS = 120.0
#: How often a reading's deadline is checked (it leaves out the time spent paused).
_DEADLINE_CHECK_SECONDS = 0.1


class ReadingFailed(Exception):
    """Reading one picture failed; ``permanent`` when trying again cannot help (not a
    picture, a decompression bomb)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class RecogniserUnavailable(Exception):
    """The recogniser cannot run on this machine (the package or a library it needs is
    missing): the reason, in one line."""


@dataclass(frozen=True)
class WordsRead:
    """The words read in one picture, lines joined by newlines ("" when it has none), and
    the recogniser's mean confidence in them."""

    words: str
    confidence: float


class Recogniser:
    """Reads pictures one at a time in a child process, each within its deadline."""

    def __init__(self, settings: OcrConfig, limits: LimitsConfig) -> None:
        self._settings = settings
        self._child_settings: dict[str, Any] = {
            "min_confidence": settings.min_confidence,
            "max_side": settings.max_side,
            "max_bytes": limits.max_image_bytes,
            "max_pixels": limits.max_image_pixels,
        }
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        #: Seconds the child spent paused in all, and since when it is paused (if it is).
        self._paused_seconds = 0.0
        self._paused_at: float | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (tests end it to play a crash)."""
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Starts the child now (reading starts it when needed); raises RecogniserUnavailable
        when it cannot run here."""
        async with self._lock:
            if self._process is None:
                await self._start()

    async def read(self, data: bytes) -> WordsRead:
        """The words in one picture; raises ReadingFailed (this picture) or
        RecogniserUnavailable (every picture)."""
        async with self._lock:
            process = self._process or await self._start()
            deadline = self._settings.seconds_per_picture
            try:
                answer = await self._within_deadline(process, data, deadline)
            except TimeoutError:
                await self._stop()
                raise ReadingFailed(f"reading the words took longer than {deadline:g} s") from None
            except (ConnectionError, asyncio.IncompleteReadError):
                status = await self._stop()
                raise ReadingFailed(f"the recogniser crashed (exit status {status})") from None
            except asyncio.CancelledError:
                # Its answer would be taken for the next picture's: the child goes.
                await self._stop()
                raise
        if "error" in answer:
            raise ReadingFailed(str(answer["error"]), permanent=bool(answer.get("permanent")))
        # Text from outside, cleaned where it enters like every other (the recogniser's own
        # dictionary holds no control or bidi character today; a future model's might).
        return WordsRead(clean_text(str(answer["words"])), float(answer["confidence"]))

    def pause(self) -> None:
        """Stops the child where it is (SIGSTOP), so that it takes no CPU time."""
        if self._paused_at is None and self._signal(signal.SIGSTOP):
            self._paused_at = time.monotonic()

    def resume(self) -> None:
        """Lets a paused child go on (SIGCONT)."""
        if self._paused_at is not None:
            self._signal(signal.SIGCONT)
            self._paused_seconds += time.monotonic() - self._paused_at
            self._paused_at = None

    def _signal(self, number: signal.Signals) -> bool:
        process = self._process
        if process is None or process.returncode is not None or not hasattr(signal, "SIGSTOP"):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, number)
            return True
        return False

    def _paused_total(self) -> float:
        now = time.monotonic()
        return self._paused_seconds + (0.0 if self._paused_at is None else now - self._paused_at)

    async def _within_deadline(
        self, process: asyncio.subprocess.Process, data: bytes, deadline: float
    ) -> dict[str, Any]:
        """Sends one picture and waits for the answer for at most ``deadline`` seconds of the
        child's running time (paused time left out); raises TimeoutError past it."""
        answering = asyncio.ensure_future(_exchange(process, data))
        started, paused_before = time.monotonic(), self._paused_total()
        try:
            while True:
                done, _ = await asyncio.wait({answering}, timeout=_DEADLINE_CHECK_SECONDS)
                if done:
                    return answering.result()
                running = time.monotonic() - started - (self._paused_total() - paused_before)
                if running >= deadline:
                    raise TimeoutError
        finally:
            answering.cancel()

    async def close(self) -> None:
        """Ends the child now, also in the middle of a reading, which then fails (a later
        :meth:`read` starts the child again)."""
        self._signal(signal.SIGKILL)
        async with self._lock:
            await self._stop()

    async def _start(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "indexer.ocr.child",
            json.dumps({**self._child_settings, "parent": os.getpid()}),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self._process = process
        try:
            async with asyncio.timeout(START_SECONDS):
                assert process.stdout is not None
                answer = await _answer(process.stdout)
        except (TimeoutError, asyncio.IncompleteReadError):
            status = await self._stop()
            raise RecogniserUnavailable(
                f"the recogniser did not start (exit status {status})"
            ) from None
        if "unavailable" in answer:
            await self._stop()
            raise RecogniserUnavailable(str(answer["unavailable"]))
        return process

    async def _stop(self) -> int | None:
        """Kills the child if it runs; returns its exit status."""
        process, self._process = self._process, None
        if self._paused_at is not None:
            self._paused_seconds += time.monotonic() - self._paused_at
            self._paused_at = None
        if process is None:
            return None
        if process.returncode is None:
            # os.kill, not process.kill: that polls (and so reaps) a child already dead, and
            # asyncio's own watcher then finds no child and reports a made-up status.
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        return await process.wait()


async def _exchange(process: asyncio.subprocess.Process, data: bytes) -> dict[str, Any]:
    """Sends one picture to the child and reads its answer."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(struct.pack(">I", len(data)) + data)
    await process.stdin.drain()
    return await _answer(process.stdout)


async def _answer(stream: asyncio.StreamReader) -> dict[str, Any]:
    (size,) = struct.unpack(">I", await stream.readexactly(4))
    answer: dict[str, Any] = json.loads(await stream.readexactly(size))
    return answer
