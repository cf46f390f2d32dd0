"""Server-side keys for "More" buttons and inline-mode offsets.

A button's ``callback_data`` (at most 64 bytes, and visible to clients) carries only a short
random key; the query and what was already shown stay here, and expire after a while. The
store is bounded by count and by memory: a picture query is kept as its vector (2 KiB for
512 dimensions), never as the picture, and the oldest entries go first when either bound is
reached.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from bot.results.relevance import Query

#: At most this many searches can be continued at once; the oldest are dropped first.
CAPACITY = 10_000
#: ... and together they hold at most this many bytes (about 2.6 KiB for a picture query).
MAX_BYTES = 64 * 1024 * 1024
#: What a continuation costs besides its query and seen ids: keys, tuples, the dataclass.
_OVERHEAD_BYTES = 400


@dataclass(frozen=True)
class Continuation:
    """Where a search left off: the query and the pictures already shown.

    ``owner`` is the person who searched, the only one who may continue it; ``chat`` is the
    chat with the More button (None for inline queries).
    """

    query: Query
    seen: frozenset[int]
    owner: int
    chat: int | None = None

    @property
    def size_bytes(self) -> int:
        """Roughly what keeping it costs in memory."""
        return _OVERHEAD_BYTES + self.query.size_bytes + 8 * len(self.seen)


class Pages:
    """Continuations of searches by random key, each kept for ``ttl`` seconds."""

    def __init__(
        self,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        capacity: int = CAPACITY,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[float, Continuation]] = OrderedDict()
        self._bytes = 0

    @property
    def bytes_held(self) -> int:
        """Roughly the memory the stored continuations take."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def save(self, continuation: Continuation) -> str:
        """Stores a continuation and returns its key (11 URL-safe characters)."""
        self._drop_expired()
        while self._entries and (
            len(self._entries) >= self._capacity
            or self._bytes + continuation.size_bytes > self._max_bytes
        ):
            self._drop_oldest()
        key = secrets.token_urlsafe(8)
        self._entries[key] = (self._clock() + self._ttl, continuation)
        self._bytes += continuation.size_bytes
        return key

    def take(self, key: str, owner: int, chat: int | None = None) -> Continuation | None:
        """The continuation saved under ``key`` (once), if ``owner`` may continue it in ``chat``.

        None when it expired, is unknown or belongs to someone else, and then nothing changes:
        a forged or misdirected key never uses up the owner's.
        """
        self._drop_expired()
        entry = self._entries.get(key)
        if entry is None or entry[1].owner != owner or entry[1].chat != chat:
            return None
        del self._entries[key]
        self._bytes -= entry[1].size_bytes
        return entry[1]

    def owner_of(self, key: str) -> int | None:
        """Who may continue the search saved under ``key`` (None: unknown or expired), to tell
        someone pressing another person's More button whose it is; nothing is used up."""
        self._drop_expired()
        entry = self._entries.get(key)
        return None if entry is None else entry[1].owner

    def _drop_expired(self) -> None:
        now = self._clock()
        while self._entries and next(iter(self._entries.values()))[0] <= now:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, (_, continuation) = self._entries.popitem(last=False)
        self._bytes -= continuation.size_bytes
