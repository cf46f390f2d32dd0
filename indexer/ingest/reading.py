"""The reading stage: the words in embedded pictures, read in the background.

A picture is searchable by its look as soon as it is embedded and by its words once read, so
reading never holds up embedding or a query: it takes one picture at a time, only while no
picture waits to be embedded, in a child process at a lower priority
(:mod:`indexer.ocr.recogniser`). The picture's bytes are fetched again from its source (files
are read again; Telegram pictures downloaded again by the process that holds the token). Each
attempt is counted before it starts; a picture that fails (or crashes or hangs the
recogniser) fails alone and is retried after a growing pause, up to ``limits.max_attempts``.
The words become a text of kind ``'ocr'``; the worker's text backlog embeds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import Callable, Sequence

from indexer.config import LimitsConfig, OcrConfig
from indexer.ingest.background import BackgroundLoop
from indexer.ocr.recogniser import ReadingFailed, Recogniser, RecogniserUnavailable, WordsRead
from indexer.parts import Parts
from indexer.records import PictureToRead

log = logging.getLogger(__name__)

#: How long reading rests while pictures wait to be embedded (they come first).
_EMBEDDING_FIRST_SECONDS = 0.5
#: How often, while a picture is read, the reader looks whether pictures wait to be embedded
#: (then the recogniser is paused until they are).
_YIELD_CHECK_SECONDS = 0.2
#: How often an idle reader looks for pictures whose retry pause has ended (new pictures wake
#: it; each look reads the rows of every embedded picture, so not more often).
_POLL_SECONDS = 30.0
#: The package that holds the recogniser and its weights.
RECOGNISER_PACKAGE = "rapidocr_onnxruntime"


class WordReader(BackgroundLoop):
    """Reads the words in embedded pictures, one at a time, until stopped."""

    def __init__(
        self,
        settings: OcrConfig,
        limits: LimitsConfig,
        engine: Parts,
        *,
        schemes: Sequence[str] | None = None,
        on_words: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__("reading the words in pictures", "word-reader")
        self._limits = limits
        self._engine = engine
        self._schemes = schemes
        self._on_words = on_words
        self._recogniser = Recogniser(settings, limits)
        self._idle = asyncio.Event()
        self._started = False
        self._reading = False
        self._unavailable: str | None = None
        #: The last picture looked at: the next look starts after it, and from the first
        #: picture again once it finds nothing further on.
        self._after = 0

    async def stop(self) -> None:
        """Ends the loop at once: the recogniser is stopped, and a picture it was reading is
        tried again at the next start (a shutdown is not the picture's failure)."""
        self._closing = True
        await self._recogniser.close()
        await super().stop()
        await self._recogniser.close()

    def wake(self) -> None:
        """A picture was queued: embedding it comes first, so a reading in progress is paused
        at once (it goes on once the queue is empty), and the reader looks for work after."""
        if self._reading:
            self._recogniser.pause()
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Waits until every picture that can be read now has been read (or failed)."""
        while self._unavailable is None and not self._closing:
            await self._idle.wait()
            if self._unavailable is not None or not await self._due(1):
                return
            self._idle.clear()
            self._wake.set()

    async def _due(self, limit: int, after: int = 0) -> list[PictureToRead]:
        schemes = self._engine.pipeline.schemes if self._schemes is None else self._schemes
        return await self._engine.store.readings.unread(
            schemes, limit, self._limits.max_attempts, after=after
        )

    async def _round(self) -> None:
        self._wake.clear()
        queue = self._engine.store.queue
        if await queue.next_pending(1, self._engine.pipeline.schemes):
            await self._pause(_EMBEDDING_FIRST_SECONDS)
            return
        due = await self._due(1, after=self._after)
        if not due and self._after:
            self._after = 0
            due = await self._due(1)
        if not due:
            self._idle.set()
            await self._pause(_POLL_SECONDS)
            return
        if not self._started and not await self._start_recogniser():
            self._idle.set()
            self._closing = True
            return
        self._after = due[0].id
        await self._read(due[0])

    async def _start_recogniser(self) -> bool:
        """Starts the recogniser when there is a first picture to read (a process with
        nothing to read never loads it); without it, says so in one line, once."""
        if importlib.util.find_spec(RECOGNISER_PACKAGE) is None:
            self._unavailable = f"the package {RECOGNISER_PACKAGE} is not installed"
        else:
            try:
                await self._recogniser.start()
                self._started = True
                return True
            except RecogniserUnavailable as exc:
                if self._closing:  # stopped while it started: nothing to say
                    return False
                self._unavailable = str(exc)
        log.warning(
            "words in pictures are not read (%s): pictures are searched by their look, "
            "captions and tags; pip install rapidocr-onnxruntime, or set ocr.enabled = false",
            self._unavailable,
        )
        return False

    async def _read(self, picture: PictureToRead) -> None:
        readings = self._engine.store.readings
        await readings.begin(picture)
        fetched = await self._engine.pipeline.fetch(picture.source)
        if self._closing:
            await readings.abandon(picture)
            return
        if fetched.data is None:
            await self._failed(picture, fetched.error or "unknown error", fetched.permanent)
            return
        if picture.sha256 is not None and fetched.sha256 != picture.sha256:
            # A file replaced since it was indexed: its words would be another picture's.
            await self._failed(picture, "the file changed since it was indexed", True)
            return
        try:
            read = await self._read_yielding(fetched.data)
        except ReadingFailed as exc:
            if self._closing:
                await readings.abandon(picture)
            else:
                await self._failed(picture, str(exc), exc.permanent)
            return
        if await readings.finish(picture.id, read.words, read.confidence) and read.words:
            self._on_words()

    async def _read_yielding(self, data: bytes) -> WordsRead:
        """Reads one picture, pausing the recogniser whenever pictures wait to be embedded: a
        picture already being read when a burst arrives must not take the CPU from it."""
        reading = asyncio.ensure_future(self._recogniser.read(data))
        queue, schemes = self._engine.store.queue, self._engine.pipeline.schemes
        self._reading = True
        try:
            while not reading.done():
                await asyncio.wait({reading}, timeout=_YIELD_CHECK_SECONDS)
                if reading.done():
                    break
                if await queue.next_pending(1, schemes):
                    self._recogniser.pause()
                else:
                    self._recogniser.resume()
        finally:
            self._reading = False
            self._recogniser.resume()
            if not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, ReadingFailed):
                    await reading
        return reading.result()

    async def _failed(self, picture: PictureToRead, error: str, permanent: bool) -> None:
        most = self._limits.max_attempts
        await self._engine.store.readings.failed(
            picture.id, error, give_up_at=most if permanent else None
        )
        gave_up = permanent or picture.attempts + 1 >= most
        # INFO: one unreadable picture is an expected outcome, counted in stats and check.
        log.info(
            "reading the words in picture %d %s: %s",
            picture.id,
            "given up" if gave_up else "will be retried",
            error,
        )
