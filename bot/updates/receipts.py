"""Handing one update to the handlers, and telling whether what it must store was stored.

Telegram forgets an update once the bot confirms it (polling: the next getUpdates offset passes
it; webhook: a 2xx answer). The bot therefore confirms an update only after its handlers ran to
the end: every handler that records something (a posted picture, a tag, a /forget) awaits its
SQLite commit before returning. When storing fails (a full disk, an I/O error), the error
handler notes it here instead of apologising; the update is then not confirmed and is handled
again later, and handling it twice is harmless (a post already recorded is recognised).

Only failures of the storage itself count (:func:`is_storage_failure`): a statement or a value
that SQLite refuses is the update's own fault, answered and confirmed like any other failing
handler. And no update is retried without bound: one that keeps failing while other updates
are stored is poisoned, not the disk; it is logged once, counted (``/stats``) and confirmed.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)

#: Operating-system errors that mean "cannot write now", not "this update is bad".
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS})
#: SQLite's primary result codes that mean the same (https://sqlite.org/rescode.html): busy or
#: locked by another program, out of memory, read-only, I/O error, damaged, full, cannot open,
#: lock protocol, not a database; and a constraint (19), which a write that failed with the disk
#: can cause in the next: the handlers share one connection, so one may have read a row (a new
#: collection) that the failed write then rolled back. A constraint that is the update's own
#: fault is caught by the poison bound. Any other code (SQLITE_ERROR: a bad statement, an FTS5
#: query it refuses; SQLITE_TOOBIG ...) is the update's own fault.
_STORAGE_SQLITE_CODES = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15, 19, 26})
#: An update whose storing failed this many times while other updates were stored meanwhile
#: is poisoned: the storage works, this update cannot be stored. With the poller's back-off
#: (0.5 s doubling to 30 s) the last try is about a minute after the first.
POISONED_AFTER_ATTEMPTS = 8


#: How the update being handled in this task is confirmed early (see :func:`answering_starts`).
_confirm_early: ContextVar[Callable[[], None] | None] = ContextVar("confirm_early", default=None)


def answering_starts() -> None:
    """The update handled in this task stores nothing more: it may be confirmed now.

    Handlers commit what they record before they answer, so once one starts waiting to answer
    (its sender's turn, the chat's send budget) only the answer is left. Confirming then, not
    after the answer, keeps a group's slow answers from holding back the getUpdates offset,
    and with it every other chat's updates (Telegram returns at most 100 a call). Called by
    the search handlers before they wait for the asker's turn, and by the rate limiter
    (:mod:`bot.flood`) before anything is sent. Not by ``Turns`` itself: ``/tag`` stores its tag
    inside its turn.
    """
    confirm = _confirm_early.get()
    if confirm is not None:
        confirm()


def is_storage_failure(error: BaseException | None) -> bool:
    """Whether ``error`` kept something from being stored and trying again later may work: the
    disk, the file or another program, not the update's own statement or values."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in _STORAGE_SQLITE_CODES
    return isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS


class Deliveries:
    """Runs updates through the Application and says which ones were stored.

    Logs one line when storing starts failing and one when every update held back by it is
    stored, not one per update or per retry; and one line for each poisoned update.
    """

    def __init__(self, writes_committed: Callable[[], int]) -> None:
        """``writes_committed`` counts the store's committed writes: while it grows, the
        storage works, and an update that still cannot be stored is poisoned."""
        self._writes_committed = writes_committed
        self._unstored: dict[int, BaseException] = {}
        self._held_back: set[int] = set()
        #: Per update held back: (failed attempts, writes committed when it first failed).
        self._attempts: dict[int, tuple[int, int]] = {}
        #: Updates given up on as poisoned since the start (shown by ``/stats``).
        self.poisoned = 0

    def note_not_stored(self, update: Update, error: BaseException) -> None:
        """Called by the error handler: ``update`` could not store what it must."""
        self._unstored[id(update)] = error

    async def handle(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        update: Update,
        confirm_early: Callable[[], None] | None = None,
    ) -> bool:
        """Runs every handler for ``update``; whether it may be confirmed to Telegram.

        ``confirm_early`` is called (perhaps several times) when a handler starts answering,
        before the answer is sent: see :func:`answering_starts`.
        """
        _confirm_early.set(confirm_early)
        await application.process_update(update)
        error = self._unstored.pop(id(update), None)
        if error is None:
            self._release(update.update_id)
            return True
        if self._is_poisoned(update.update_id):
            self.poisoned += 1
            log.error(
                "update %s not stored in %d tries while other writes were (%s): skipped",
                update.update_id,
                POISONED_AFTER_ATTEMPTS,
                error,
            )
            self._release(update.update_id)
            return True
        if not self._held_back:
            log.warning(
                "update %s not stored (%s): not confirmed to Telegram, retried until it can be",
                update.update_id,
                error,
            )
        self._held_back.add(update.update_id)
        return False

    def _is_poisoned(self, update_id: int) -> bool:
        """Counts a failed attempt; whether the update has failed too often while other writes
        were committed (when nothing commits, the storage is at fault: retried for ever, since
        skipping would lose what the update carries)."""
        committed = self._writes_committed()
        attempts, committed_then = self._attempts.get(update_id, (0, committed))
        self._attempts[update_id] = (attempts + 1, committed_then)
        return attempts + 1 >= POISONED_AFTER_ATTEMPTS and committed > committed_then

    def _release(self, update_id: int) -> None:
        """``update_id`` is no longer held back."""
        self._attempts.pop(update_id, None)
        if update_id in self._held_back:
            self._held_back.discard(update_id)
            if not self._held_back:
                log.info("storing works again: the updates held back are stored")
