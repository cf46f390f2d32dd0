"""What the bot remembers about each group it indexes: title, public username, presence.

Kept as PTB ``chat_data`` (persisted with PicklePersistence under the data folder), refreshed by
every message the bot sees in the group, so ``/groups`` can name groups and result captions
can link to public groups by username. The indexer only knows collections by chat id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from telegram import Chat

#: Supergroup and channel ids are "-100" followed by the id used in t.me/c/ links.
_SUPERGROUP_PREFIX = "-100"


@dataclass
class ChatFacts:
    """The ``chat_data`` of a group: refreshed on every update from it."""

    title: str | None = None
    username: str | None = None
    present: bool = True

    def remember(self, chat: Chat) -> None:
        """Takes the group's current title and username (both can change)."""
        self.title = chat.title
        self.username = chat.username


def collection_of(chat_id: int) -> str:
    """The indexer collection that holds a chat's pictures."""
    return str(chat_id)


def group_of(collection: str) -> int | None:
    """The group whose pictures a collection holds; None for other collections (e.g. the CLI's).

    Group and supergroup ids are negative.
    """
    if collection.startswith("-") and collection[1:].isdigit():
        return int(collection)
    return None


def message_link(chat_id: int, message_id: int, username: str | None) -> str | None:
    """A t.me link to a message: public groups by username, private supergroups by /c/ id.

    Basic groups have no message links, so they get none.
    """
    if username:
        return f"https://t.me/{username}/{message_id}"
    text = str(chat_id)
    if text.startswith(_SUPERGROUP_PREFIX):
        return f"https://t.me/c/{text.removeprefix(_SUPERGROUP_PREFIX)}/{message_id}"
    return None


def present_groups(collections: list[str], facts: Mapping[int, ChatFacts]) -> list[int]:
    """The groups among ``collections`` that the bot is still in.

    Removing the bot forgets nothing (unless ``purge_on_removal``), but a group the bot left
    is not searched until it is added back.
    """
    groups = [group_of(name) for name in collections]
    return [
        chat_id
        for chat_id in groups
        if chat_id is not None and (chat_id not in facts or facts[chat_id].present)
    ]
