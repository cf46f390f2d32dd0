"""The page's news: every new, edited or deleted message of the fake Telegram, numbered.

The fake keeps messages in a plain dict (``world.messages``). The feed compares it with what it
saw last time whenever the fake signals a change, and gives each difference the next revision
number; a page asks for "everything after revision N" and long-polls when there is nothing yet.
Comparing whole dicts costs microseconds per message, fine for a playground's few hundred.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from bot.playground.fake_telegram import FakeTelegram

Key = tuple[int, int]


@dataclass(frozen=True)
class Change:
    """One message as it is now (``None``: deleted), with the revision that changed it."""

    revision: int
    chat_id: int
    message_id: int
    message: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "message": self.message,
        }


class MessageFeed:
    """Numbers the changes of ``fake.world.messages`` for pages that poll for them."""

    def __init__(self, fake: FakeTelegram) -> None:
        self._fake = fake
        self._seen: dict[Key, dict[str, Any]] = {}
        self._changes: dict[Key, Change] = {}
        self.revision = 0

    def refresh(self) -> None:
        """Records every difference between the fake's messages and the last look at them."""
        messages = self._fake.world.messages
        for key, message in messages.items():
            if self._seen.get(key) != message:
                self._seen[key] = copy.deepcopy(message)
                self._record(key, self._seen[key])
        for key in [key for key in self._seen if key not in messages]:
            del self._seen[key]
            self._record(key, None)

    def since(self, revision: int) -> list[Change]:
        """The latest change of each message changed after ``revision``, oldest first."""
        changes = [change for change in self._changes.values() if change.revision > revision]
        return sorted(changes, key=lambda change: change.revision)

    async def wait(self, revision: int, timeout: float) -> list[Change]:
        """The changes after ``revision``, waiting up to ``timeout`` seconds for the first."""
        deadline = time.monotonic() + timeout
        self.refresh()
        while self.revision <= revision:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await self._fake.changed.wait(remaining)
            self.refresh()
        return self.since(revision)

    def _record(self, key: Key, message: dict[str, Any] | None) -> None:
        self.revision += 1
        self._changes[key] = Change(self.revision, key[0], key[1], message)
