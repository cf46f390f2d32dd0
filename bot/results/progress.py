"""One message that shows a reindex's progress, edited at most every few seconds.

Telegram limits edits (and a chat full of progress messages helps no one), so the reindex
reports after every batch but the message shows the first report (the total is known from
then on) and then changes at most every ``interval`` seconds, plus a final edit. Edits are
best effort: a failed edit is logged and never stops the reindex.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from telegram import Message
from telegram.error import TelegramError

from bot.phrases import Texts
from bot.results.replies import duration
from indexer.records import ReindexProgress

log = logging.getLogger(__name__)

#: The least time between two edits of a progress message.
EDIT_INTERVAL_SECONDS = 2.0


class ProgressMessage:
    """Edits ``message`` with reindex progress, throttled."""

    def __init__(
        self,
        message: Message,
        texts: Texts,
        interval: float = EDIT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._message = message
        self._texts = texts
        self._interval = interval
        self._clock = clock
        self._last_edit: float | None = None
        self._text = message.text
        self.last: ReindexProgress | None = None

    async def report(self, progress: ReindexProgress) -> None:
        """Shows ``progress`` if the last edit is old enough (the indexer's progress callback)."""
        self.last = progress
        if self._last_edit is not None and self._clock() - self._last_edit < self._interval:
            return
        eta = progress.eta_seconds
        await self.show(
            self._texts.reindex_progress.format(
                done=progress.done,
                total=progress.total,
                rate=progress.rate,
                eta="?" if eta is None else duration(eta),
            )
        )

    async def show(self, text: str) -> None:
        """Replaces the message's text now (the final word, or a throttled update)."""
        self._last_edit = self._clock()
        if text == self._text:
            return
        try:
            await self._message.edit_text(text)
            self._text = text
        except TelegramError as exc:
            log.warning("could not update the reindex progress message: %s", exc)
