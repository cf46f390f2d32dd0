"""Server-side keys for "More" buttons and inline-mode offsets.

A button's ``callback_data`` (at most 64 bytes, and visible to clients) carries only a short
random key; the query and what was already shown stay here, and expire after a while so the
store cannot grow without bound.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bot.ranking import Query

#: At most this many searches can be continued at once; the oldest are dropped first.
CAPACITY = 10_000


@dataclass(frozen=True)
class Continuation:
    """Where a search left off: the query and the pictures already shown.

    ``owner`` is who may continue it: the chat with the More button, or the person who made
    an inline query.
    """

    query: Query
    seen: frozenset[int]
    owner: int


class Pages:
    """Continuations of searches by random key, each kept for ``ttl`` seconds."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Continuation]] = OrderedDict()

    def save(self, continuation: Continuation) -> str:
        """Stores a continuation and returns its key (11 URL-safe characters)."""
        self._drop_expired()
        while len(self._entries) >= CAPACITY:
            self._entries.popitem(last=False)
        key = secrets.token_urlsafe(8)
        self._entries[key] = (self._clock() + self._ttl, continuation)
        return key

    def take(self, key: str) -> Continuation | None:
        """The continuation saved under ``key`` (once), or None when it expired or is unknown."""
        self._drop_expired()
        entry = self._entries.pop(key, None)
        return None if entry is None else entry[1]

    def _drop_expired(self) -> None:
        now = self._clock()
        while self._entries and next(iter(self._entries.values()))[0] <= now:
            self._entries.popitem(last=False)
