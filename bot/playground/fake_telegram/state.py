"""The world the fake Telegram knows: the bot, users, chats, memberships, files, messages.

Everything lives in plain dicts and dataclasses so a test can look at it directly
(``fake.world.messages``, ``fake.world.members``). The JSON shapes built here are the ones
the Bot API documents; python-telegram-bot parses them into its own objects, so a missing
required field shows up as a parsing error in the bot, exactly where it would matter.
"""

import copy
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from .errors import bad_request, forbidden
from .media import photo_renditions
from .updates import UpdateQueue

# getFile refuses bigger files: "Bad Request: file is too big".
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024
MEMBER_STATUSES = ("creator", "administrator", "member", "left", "kicked")
PRESENT_STATUSES = ("creator", "administrator", "member")
ADMIN_STATUSES = ("creator", "administrator")

_FILE_KINDS = {
    # kind: (file_id prefix like Telegram's, folder of file_path, default extension)
    "photo": ("AgACAgIAAxkBAAI", "photos", "jpg"),
    "document": ("BQACAgIAAxkBAAI", "documents", "bin"),
    "sticker": ("CAACAgIAAxkBAAI", "stickers", "webp"),
    "video": ("BAACAgIAAxkBAAI", "videos", "mp4"),
    "animation": ("CgACAgIAAxkBAAI", "animations", "mp4"),
    "video_note": ("DQACAgIAAxkBAAI", "video_notes", "mp4"),
    "thumbnail": ("AAMCAgADGQEAAI", "thumbnails", "jpg"),
}
_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
)


@dataclass
class User:
    """A Telegram account; ``blocked_bot`` makes the bot's messages to it fail with 403."""

    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "en"
    last_name: str | None = None
    is_bot: bool = False
    blocked_bot: bool = False

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``User`` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for name in ("last_name", "username", "language_code"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


@dataclass
class BotProfile:
    """The bot's own account and the switches getMe reports (set with @BotFather in reality)."""

    user: User
    can_join_groups: bool = True
    can_read_all_group_messages: bool = True
    supports_inline_queries: bool = True

    def to_api(self) -> dict[str, Any]:
        """What ``getMe`` answers."""
        return {
            **self.user.to_api(),
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


@dataclass
class Chat:
    """A private chat, group, supergroup or channel."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``Chat`` object as embedded in messages."""
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        for name in ("title", "username", "first_name"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


@dataclass
class StoredFile:
    """Bytes Telegram holds for a file id. ``declared_size`` overrides the size it reports."""

    file_id: str
    file_unique_id: str
    data: bytes
    kind: str
    file_path: str
    declared_size: int | None = None
    #: What the API object of a video, animation, video note or sticker carries besides its
    #: ids and size (dimensions, duration, thumbnail...), as the user's message announced it.
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.declared_size if self.declared_size is not None else len(self.data)

    @property
    def too_big(self) -> bool:
        """Whether getFile refuses it, as Telegram does above 20 MB."""
        return self.size > MAX_DOWNLOAD_SIZE


@dataclass
class World:
    """All state of the fake, shared by the HTTP methods and the user-simulation helpers."""

    bot: BotProfile
    users: dict[int, User] = field(default_factory=dict)
    chats: dict[int, Chat] = field(default_factory=dict)
    # chat id → user id → status; a user absent here has status "left".
    members: dict[int, dict[int, str]] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    # Any size's file id → all PhotoSize objects of that photo, smallest first.
    photo_sets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    deleted_messages: set[tuple[int, int]] = field(default_factory=set)
    updates: UpdateQueue = field(default_factory=lambda: UpdateQueue(first_update_id=500_000_001))
    # (scope as sorted JSON, e.g. '{"type": "default"}', language_code or "") → commands.
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    open_callback_queries: dict[str, dict[str, Any]] = field(default_factory=dict)
    callback_answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    open_inline_queries: dict[str, dict[str, Any]] = field(default_factory=dict)
    inline_answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    _serial: Iterator[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )
    _last_message_id: dict[int, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.users[self.bot.user.id] = self.bot.user

    def next_serial(self) -> int:
        """A number never handed out before, for ids of anything."""
        return next(self._serial)

    # Users and chats

    def add_user(self, first_name: str, **details: Any) -> User:
        """Creates a user with a fresh id (100000000 + n, like a real account)."""
        user = User(id=100_000_000 + self.next_serial(), first_name=first_name, **details)
        self.users[user.id] = user
        return user

    def add_chat(self, chat: Chat) -> Chat:
        self.chats[chat.id] = chat
        self.members.setdefault(chat.id, {})
        return chat

    def private_chat(self, user: User) -> Chat:
        """The private chat between ``user`` and the bot, opened the first time it is asked for."""
        if user.id not in self.chats:
            self.add_chat(
                Chat(id=user.id, type="private", first_name=user.first_name, username=user.username)
            )
            self.members[user.id] = {user.id: "member", self.bot.user.id: "member"}
        return self.chats[user.id]

    def status(self, chat_id: int, user_id: int) -> str:
        return self.members.get(chat_id, {}).get(user_id, "left")

    def set_status(self, chat_id: int, user_id: int, status: str) -> None:
        if status not in MEMBER_STATUSES:
            raise ValueError(f"status must be one of {MEMBER_STATUSES}, not {status!r}")
        self.members.setdefault(chat_id, {})[user_id] = status

    def member_to_api(self, chat_id: int, user_id: int) -> dict[str, Any]:
        """The Bot API ``ChatMember`` object for the user's current status in the chat."""
        status = self.status(chat_id, user_id)
        data: dict[str, Any] = {"status": status, "user": self.users[user_id].to_api()}
        if status == "creator":
            data["is_anonymous"] = False
        elif status == "administrator":
            data.update(can_be_edited=False, is_anonymous=False, can_promote_members=False)
            data.update(dict.fromkeys(_ADMIN_RIGHTS, True))
        elif status == "kicked":
            data["until_date"] = 0
        return data

    def chat(self, chat_id: int | str | None) -> Chat:
        """Looks a chat up by id or ``@username``; 400 "chat not found" otherwise."""
        if isinstance(chat_id, str) and chat_id.removeprefix("-").isdigit():
            chat_id = int(chat_id)
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self.chats.values():
                if chat.username and f"@{chat.username}".lower() == chat_id.lower():
                    return chat
        elif isinstance(chat_id, int) and chat_id in self.chats:
            return self.chats[chat_id]
        if isinstance(chat_id, int) and chat_id in self.users:
            raise forbidden("bot can't initiate conversation with a user")
        raise bad_request("chat not found")

    def change_bot_status(self, chat: Chat, by: User, new_status: str) -> None:
        """Sets the bot's status and queues the ``my_chat_member`` update Telegram sends."""
        bot_id = self.bot.user.id
        old = self.member_to_api(chat.id, bot_id)
        self.set_status(chat.id, bot_id, new_status)
        payload = {
            "chat": chat.to_api(),
            "from": by.to_api(),
            "date": now(),
            "old_chat_member": old,
            "new_chat_member": self.member_to_api(chat.id, bot_id),
        }
        self.updates.push("my_chat_member", payload)

    # Files

    def register_file(
        self, data: bytes, kind: str, extension: str | None = None, declared_size: int | None = None
    ) -> StoredFile:
        """Stores bytes under a fresh file id and file path of the given kind."""
        prefix, folder, default_extension = _FILE_KINDS[kind]
        serial = self.next_serial()
        stored = StoredFile(
            file_id=f"{prefix}{serial:08d}",
            file_unique_id=f"AQAD{serial:08d}",
            data=data,
            kind=kind,
            file_path=f"{folder}/file_{serial}.{extension or default_extension}",
            declared_size=declared_size,
        )
        self.files[stored.file_id] = stored
        return stored

    def register_photo(self, data: bytes, declared_size: int | None = None) -> list[dict[str, Any]]:
        """Stores a photo as Telegram does (several sizes) and returns its PhotoSize objects.

        ``declared_size`` applies to the largest size, the one bots download.
        """
        renditions = photo_renditions(data)
        sizes = []
        for index, rendition in enumerate(renditions):
            is_original = index == len(renditions) - 1
            stored = self.register_file(
                rendition.data, "photo", declared_size=declared_size if is_original else None
            )
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": rendition.width,
                    "height": rendition.height,
                    "file_size": stored.size,
                }
            )
        for size in sizes:
            self.photo_sets[size["file_id"]] = sizes
        return copy.deepcopy(sizes)

    def file(self, file_id: object) -> StoredFile:
        if not isinstance(file_id, str) or file_id not in self.files:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return self.files[file_id]

    def file_by_path(self, file_path: str) -> StoredFile | None:
        return next((f for f in self.files.values() if f.file_path == file_path), None)

    # Messages

    def new_message(
        self,
        chat: Chat,
        sender: User,
        content: dict[str, Any],
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Stores and returns a message with the next id of ``chat``.

        ``reply_to`` is embedded without its own ``reply_to_message``, as Telegram nests only
        one level.
        """
        message_id = self._last_message_id.get(chat.id, 0) + 1
        self._last_message_id[chat.id] = message_id
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": sender.to_api(),
            "chat": chat.to_api(),
            "date": now(),
            **content,
        }
        if reply_to is not None:
            message["reply_to_message"] = {
                key: value for key, value in reply_to.items() if key != "reply_to_message"
            }
        self.messages[(chat.id, message_id)] = message
        return copy.deepcopy(message)

    def message(self, chat_id: int, message_id: object) -> dict[str, Any] | None:
        """A stored message (a copy), or ``None`` if unknown or deleted."""
        stored = self.messages.get((chat_id, message_id))  # type: ignore[arg-type]
        return copy.deepcopy(stored) if stored is not None else None

    def is_from_bot(self, message: dict[str, Any]) -> bool:
        return message["from"]["id"] == self.bot.user.id


def extension_of(file_name: str) -> str | None:
    """``"cat.JPG"`` → ``"JPG"``; ``None`` when the name has no extension."""
    return PurePosixPath(file_name).suffix.removeprefix(".") or None


def now() -> int:
    """Unix time in whole seconds, the unit of every ``date`` in the Bot API."""
    return int(time.time())
