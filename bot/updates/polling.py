"""Long polling that confirms an update to Telegram only once it is handled and stored.

Telegram drops every update below the ``offset`` of the next getUpdates call, so the offset is
the bot's receipt. PTB's own updater confirms a batch as soon as it is queued, before any
handler ran; a crash then loses the batch. Here updates are handled concurrently (up to
``concurrency`` at a time), and the offset never passes the lowest update still being handled
or waiting to be retried (see :class:`Confirmations`). An update whose storing failed is
retried with back-off until it succeeds. After a crash, the updates handled but not yet
confirmed come again; handling them again is harmless (see :mod:`bot.updates.receipts`).

Updates are read as raw JSON and parsed one by one, so a malformed one is logged and skipped
instead of stopping the loop. When Telegram rejects the token the loop ends with
:class:`ReceivingStopped`, and ``python -m bot`` exits non-zero so a supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import warnings
from collections.abc import Coroutine, Sequence
from typing import Any

from telegram import Update
from telegram.error import EndPointNotFound, InvalidToken, RetryAfter, TelegramError
from telegram.warnings import PTBUserWarning

from bot.context import BotApplication, deps_of
from bot.updates.parsing import parse_update

log = logging.getLogger(__name__)

#: Seconds before the first retry of an update that could not be stored; doubled each time.
FIRST_RETRY_SECONDS = 0.5
#: The longest wait between two retries of one update, or two failed getUpdates calls.
MAX_RETRY_SECONDS = 30.0
#: While every fetched update is still being handled, Telegram answers getUpdates at once with
#: them again; the loop then waits this long (or until one finishes) before asking again.
BUSY_REPOLL_SECONDS = 0.25
#: Added to the long-poll timeout as the HTTP read timeout.
READ_MARGIN_SECONDS = 5.0


class ReceivingStopped(Exception):
    """Updates can no longer be received (the token was rejected); the message says why."""


class Confirmations:
    """Which updates are being handled, and the getUpdates offset that confirms the rest.

    The offset passes every update handled to the end, and never one still being handled or
    waiting for a retry. An update Telegram sends again while it is still being handled (or
    after it was handled but before the offset passed it) is recognised and not started twice.
    """

    def __init__(self) -> None:
        self._unfinished: set[int] = set()
        self._taken: set[int] = set()
        self._next: int | None = None

    @property
    def offset(self) -> int | None:
        """The offset for the next getUpdates call (None before the first update)."""
        if self._unfinished:
            return min(self._unfinished)
        return self._next

    @property
    def busy(self) -> bool:
        return bool(self._unfinished)

    def take(self, update_id: int) -> bool:
        """Marks ``update_id`` as being handled; False if it already was (or was confirmed)."""
        offset = self.offset
        if update_id in self._taken or (offset is not None and update_id < offset):
            return False
        self._taken.add(update_id)
        self._unfinished.add(update_id)
        self._next = max(self._next or 0, update_id + 1)
        return True

    def finish(self, update_id: int) -> None:
        """``update_id`` is handled (and stored): the offset may pass it."""
        self._unfinished.discard(update_id)
        offset = self.offset
        if offset is not None:
            self._taken = {taken for taken in self._taken if taken >= offset}


class Poller:
    """Receives updates by long polling until stopped; see the module's docstring."""

    def __init__(
        self,
        application: BotApplication,
        *,
        timeout: float,
        allowed_updates: Sequence[str],
        concurrency: int,
    ) -> None:
        self._application = application
        self._timeout = timeout
        self._allowed_updates = list(allowed_updates)
        self._slots = asyncio.Semaphore(concurrency)
        self._confirmations = Confirmations()
        self._handling: set[asyncio.Task[None]] = set()
        self._progress = asyncio.Event()
        self._stopping = asyncio.Event()
        self._ended = asyncio.Event()
        self._skipped: set[str] = set()
        # getUpdates is called raw on purpose (to skip malformed updates one by one), which
        # PTB would warn about on every call.
        warnings.filterwarnings(
            "ignore", message=r"Please use 'Bot\.getUpdates'", category=PTBUserWarning
        )

    async def run(self) -> None:
        """Fetches and hands out updates until ``stop``; raises ReceivingStopped if it must end."""
        try:
            while not self._stopping.is_set():
                batch = await self._unless_stopping(self._fetch_until_answered())
                if batch is None:
                    return
                fresh = self._new_updates(batch)
                for update in fresh:
                    await self._slots.acquire()
                    task = asyncio.create_task(self._handle(update))
                    self._handling.add(task)
                    task.add_done_callback(self._handling.discard)
                if batch and not fresh:
                    self._progress.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._progress.wait(), BUSY_REPOLL_SECONDS)
        finally:
            self._ended.set()

    async def stop(self, grace: float) -> None:
        """Takes no new updates; lets those being handled finish (up to ``grace`` seconds,
        retries give up at once), then confirms those that did."""
        self._stopping.set()
        await self._ended.wait()
        if self._handling:
            _, unfinished = await asyncio.wait(set(self._handling), timeout=grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        offset = self._confirmations.offset
        if offset is not None:
            with contextlib.suppress(TelegramError):
                await self._get_updates(offset, timeout=0, limit=1)

    async def _unless_stopping(self, fetch: Coroutine[Any, Any, list[Any]]) -> list[Any] | None:
        """The result of ``fetch``, or None as soon as the poller is stopping.

        A long poll is abandoned rather than awaited to its end: its cancelled request is left
        to finish on its own (PTB's updater does the same).
        """
        fetching = asyncio.create_task(fetch)
        stopping = asyncio.create_task(self._stopping.wait())
        await asyncio.wait({fetching, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if fetching.done():
            return fetching.result()
        fetching.cancel()
        return None

    async def _fetch_until_answered(self) -> list[Any]:
        """The next batch of raw updates; network trouble is waited out with back-off."""
        delay = FIRST_RETRY_SECONDS
        while True:
            try:
                batch = await self._get_updates(self._confirmations.offset, self._timeout)
            except (InvalidToken, EndPointNotFound) as exc:
                raise ReceivingStopped(
                    "Telegram rejected the bot token (telegram.token or $TELEGRAM_BOT_TOKEN)"
                ) from exc
            except RetryAfter as exc:
                await asyncio.sleep(_seconds(exc.retry_after))
                continue
            except TelegramError as exc:
                log.warning("getUpdates failed (%s); trying again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
                continue
            if isinstance(batch, list):
                return batch
            log.warning("getUpdates answered %.100r instead of a list; ignored", batch)
            await asyncio.sleep(delay)

    async def _get_updates(self, offset: int | None, timeout: float, limit: int = 100) -> Any:
        arguments: dict[str, Any] = {
            "timeout": timeout,
            "limit": limit,
            "allowed_updates": self._allowed_updates,
        }
        if offset is not None:
            arguments["offset"] = offset
        return await self._application.bot.do_api_request(
            "getUpdates", api_kwargs=arguments, read_timeout=timeout + READ_MARGIN_SECONDS
        )

    def _new_updates(self, batch: list[Any]) -> list[Update]:
        """The updates of ``batch`` not yet taken; malformed ones are logged once and skipped."""
        fresh: list[Update] = []
        skipped: set[str] = set()
        for raw in batch:
            update = self._parse(raw, skipped)
            if update is not None and self._confirmations.take(update.update_id):
                fresh.append(update)
        self._skipped = skipped
        return fresh

    def _parse(self, raw: Any, skipped: set[str]) -> Update | None:
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        try:
            update = parse_update(raw, self._application.bot)
        except Exception as exc:
            key = json.dumps(raw, sort_keys=True, default=repr)
            skipped.add(key)
            if key not in self._skipped:
                log.warning("skipped a malformed update (%s): %.200s", exc, key)
            if type(update_id) is int and self._confirmations.take(update_id):
                self._confirmations.finish(update_id)
            return None
        return update

    async def _handle(self, update: Update) -> None:
        """Handles ``update`` until it is stored, then lets the offset pass it.

        An update still not stored when the bot stops stays unconfirmed: Telegram sends it
        again to the next run.
        """
        try:
            if await self._handle_until_stored(update):
                self._confirmations.finish(update.update_id)
        except Exception:
            # A fault of this update alone (handler errors are caught by PTB already): retrying
            # would fail the same way, and holding it back would hold back every later one.
            log.exception("handling update %s failed; skipped", update.update_id)
            self._confirmations.finish(update.update_id)
        finally:
            self._slots.release()
            self._progress.set()

    def _confirm(self, update_id: int) -> None:
        """Lets the offset pass ``update_id`` while its answer is still on the way."""
        self._confirmations.finish(update_id)
        self._progress.set()

    async def _handle_until_stored(self, update: Update) -> bool:
        """Whether ``update`` was stored before the bot started stopping."""
        deliveries = deps_of(self._application).deliveries
        delay = FIRST_RETRY_SECONDS
        while not await deliveries.handle(
            self._application, update, lambda: self._confirm(update.update_id)
        ):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return False
            delay = min(delay * 2, MAX_RETRY_SECONDS)
        return True


def _seconds(retry_after: object) -> float:
    total_seconds = getattr(retry_after, "total_seconds", None)
    return float(total_seconds() if callable(total_seconds) else retry_after)  # type: ignore[arg-type]
