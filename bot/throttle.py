"""Per-person fairness: a limit on the work a person makes the bot do, and one answer at a time.

A person who floods the bot gets their share and is told once to slow down; the notices
themselves are limited (one per person per window), because in a group every message the bot
sends spends the group's own budget (Telegram allows about 20 a minute), which the answers to
everyone else need. Memory stays bounded: a person's entry is dropped once they are idle.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class Refusal:
    """Why a request was not counted: wait ``seconds``; ``notify`` only for the window's first."""

    seconds: int
    notify: bool


@dataclass
class _Person:
    recent: deque[float] = field(default_factory=deque)
    #: Until when a notice already covers this person (no second one before then).
    notified_until: float = 0.0


class QueryLimiter:
    """At most ``per_minute`` requests (searches, More, inline, /tag) per person in any minute.

    Only people with a request in the last minute are remembered.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._people: OrderedDict[int, _Person] = OrderedDict()

    def __len__(self) -> int:
        """How many people are remembered now (those active in the last minute)."""
        self._forget_idle(self._clock())
        return len(self._people)

    def acquire(self, user_id: int) -> Refusal | None:
        """Counts a request and returns None, or returns a Refusal (counting nothing)."""
        now = self._clock()
        self._forget_idle(now)
        person = self._people.pop(user_id, None) or _Person()
        self._people[user_id] = person  # most recently active last
        recent = person.recent
        while recent and recent[0] <= now - _WINDOW_SECONDS:
            recent.popleft()
        if len(recent) < self._per_minute:
            recent.append(now)
            return None
        free_at = recent[0] + _WINDOW_SECONDS
        notify = person.notified_until <= now
        if notify:
            person.notified_until = now + _WINDOW_SECONDS
        return Refusal(max(1, math.ceil(free_at - now)), notify)

    def _forget_idle(self, now: float) -> None:
        """Drops people whose last request is a window old (the least recent come first)."""
        while self._people:
            person = next(iter(self._people.values()))
            last = person.recent[-1] if person.recent else -math.inf
            if max(last, person.notified_until - _WINDOW_SECONDS) > now - _WINDOW_SECONDS:
                return
            self._people.popitem(last=False)


class Turns:
    """One answer at a time per person, so a person's backlog never queues ahead of others.

    A group's answers share the group's send budget; if one person's twenty searches were
    answered all at once, another member's answer would wait behind all of them. Taking turns,
    it waits behind at most one. Also counts the answers each chat is waiting to send, so
    optional messages (slow-down notices) can give way to them.
    """

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}
        self._chats: dict[int, int] = {}

    @asynccontextmanager
    async def answering(self, user_id: int, chat_id: int) -> AsyncIterator[None]:
        """Waits for the person's previous answer to be sent, then holds their turn."""
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        _count(self._users, user_id, +1)
        _count(self._chats, chat_id, +1)
        try:
            async with lock:
                yield
        finally:
            _count(self._chats, chat_id, -1)
            if not _count(self._users, user_id, -1):
                del self._locks[user_id]

    def busy(self, chat_id: int) -> bool:
        """Whether answers for the chat are being prepared or waiting to be sent."""
        return chat_id in self._chats

    def __len__(self) -> int:
        """People with an answer in progress (their entries are dropped afterwards)."""
        return len(self._locks)


def _count(counts: dict[int, int], key: int, step: int) -> int:
    """Adds ``step`` to ``counts[key]``, dropping the key at zero; returns the new count."""
    value = counts.get(key, 0) + step
    if value:
        counts[key] = value
    else:
        counts.pop(key, None)
    return value
