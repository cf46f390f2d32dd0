"""Handing one update to the handlers, and telling whether what it must store was stored.

Telegram forgets an update once the bot confirms it (polling: the next getUpdates offset passes
it; webhook: a 2xx answer). The bot therefore confirms an update only after its handlers ran to
the end: every handler that records something (a posted picture, a tag, a /forget) awaits its
SQLite commit before returning. When storing fails (a full disk, an I/O error), the error
handler notes it here instead of apologising; the update is then not confirmed and is handled
again later, and handling it twice is harmless (a post already recorded is recognised).
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
    """Whether ``error`` kept something from being stored (and trying again later may work)."""
    if isinstance(error, sqlite3.Error):
        return True
    return isinstance(error, OSError) and error.errno in _STORAGE_ERRNOS


class Deliveries:
    """Runs updates through the Application and says which ones were stored.

    Logs one line when storing starts failing and one when every update held back by it is
    stored, not one per update or per retry.
    """

    def __init__(self) -> None:
        self._unstored: dict[int, BaseException] = {}
        self._held_back: set[int] = set()

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
            if update.update_id in self._held_back:
                self._held_back.discard(update.update_id)
                if not self._held_back:
                    log.info("storing works again: the updates held back are stored")
            return True
        if not self._held_back:
            log.warning(
                "update %s not stored (%s): not confirmed to Telegram, retried until it can be",
                update.update_id,
                error,
            )
        self._held_back.add(update.update_id)
        return False
