"""The update queue behind ``getUpdates``, with Telegram's confirmation and long-poll rules.

An update stays queued until the bot confirms it by calling ``getUpdates`` with an ``offset``
above its ``update_id``; fetching alone confirms nothing. That is what lets a test wait until
the bot has *taken* every update (``wait_until_consumed``).
"""

import copy
from typing import Any

from .errors import ApiError
from .waiting import Signal, wait_until

# What Telegram sends when a bot never chose: everything but these three kinds.
NOT_SENT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
MAX_LIMIT = 100


class UpdateQueue:
    """Updates waiting for the bot, in order, each with a fresh ``update_id``."""

    def __init__(self, first_update_id: int = 1) -> None:
        self.changed = Signal()
        self._pending: list[Any] = []
        self._next_id = first_update_id
        self._allowed: frozenset[str] | None = None
        self._poll_generation = 0
        self._closed = False
        self._raw_positions: dict[int, int] = {}

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Copies of the updates not yet confirmed, oldest first."""
        return copy.deepcopy(self._pending)

    def push(self, kind: str, payload: dict[str, Any]) -> int:
        """Queues ``{"update_id": …, kind: payload}`` and wakes a waiting long poll.

        Kinds the bot excluded with ``allowed_updates`` are never queued, as on Telegram; the
        update id is still used up and returned.
        """
        update_id = self._next_id
        self._next_id += 1
        if self._wanted(kind):
            self._pending.append({"update_id": update_id, kind: copy.deepcopy(payload)})
            self.changed.notify()
        return update_id

    def push_raw(self, update: Any) -> int:
        """Queues ``update`` exactly as given, however malformed (a test of the bot's parsing).

        It takes the place of the next update id: an ``offset`` above that id confirms it,
        whatever its own ``update_id`` field says.
        """
        position = self._next_id
        self._next_id += 1
        self._raw_positions[id(update)] = position
        self._pending.append(update)
        self.changed.notify()
        return position

    def drop_all(self) -> None:
        """Forgets every queued update (``drop_pending_updates=True``)."""
        self._pending.clear()
        self._raw_positions.clear()
        self.changed.notify()

    async def fetch(
        self,
        offset: int | None,
        limit: int,
        timeout: float,
        allowed_updates: list[str] | None,
    ) -> list[dict[str, Any]]:
        """One ``getUpdates`` call: confirm below ``offset``, then answer at once or long-poll.

        A newer call ends a waiting older one with 409 Conflict, as Telegram does when two
        instances of a bot poll at the same time.
        """
        if allowed_updates is not None:
            self._allowed = frozenset(allowed_updates) or None
        if offset is not None:
            self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self.changed.notify()
        await wait_until(
            lambda: self._closed or bool(self._pending) or generation != self._poll_generation,
            self.changed,
            max(timeout, 0),
        )
        if generation != self._poll_generation and not self._closed:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        return copy.deepcopy(self._pending[: max(1, min(limit, MAX_LIMIT))])

    async def wait_until_consumed(self, timeout: float) -> bool:
        """Waits until every queued update is confirmed; says whether that happened in time."""
        return await wait_until(lambda: not self._pending, self.changed, timeout)

    def close(self) -> None:
        """Answers every waiting long poll now (with what is queued) so shutdown is quick."""
        self._closed = True
        self.changed.notify()

    def _wanted(self, kind: str) -> bool:
        if self._allowed is None:
            return kind not in NOT_SENT_BY_DEFAULT
        return kind in self._allowed

    def _position(self, update: Any) -> int:
        position = self._raw_positions.get(id(update))
        return update["update_id"] if position is None else position

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            keep = self._pending[offset:]
        else:
            keep = [update for update in self._pending if self._position(update) >= offset]
        if len(keep) != len(self._pending):
            for update in self._pending[: len(self._pending) - len(keep)]:
                self._raw_positions.pop(id(update), None)
            self._pending = keep
            self.changed.notify()
