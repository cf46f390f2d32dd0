"""What people do in Telegram, turned into the updates the bot receives.

Each helper changes the world as Telegram would (stores the message, files, memberships),
queues the realistic update, and returns what a test needs next (usually the message id).
They are plain methods: a test calls them and then awaits the bot's reaction.
"""

from collections.abc import Sequence
from typing import Any, Literal

from .content import media_content
from .entities import user_text_entities
from .state import ADMIN_STATUSES, PRESENT_STATUSES, Chat, User, World, extension_of, now

ForwardSource = User | Chat | str


class UserActions:
    """Mixin for ``FakeTelegram``: building the world and acting as its users."""

    world: World

    # Building the world

    @property
    def bot_user(self) -> User:
        """The bot's own account (use it with ``set_member`` to make the bot an admin)."""
        return self.world.bot.user

    def add_user(
        self,
        first_name: str = "Alice",
        *,
        username: str | None = None,
        language_code: str | None = "en",
        last_name: str | None = None,
    ) -> User:
        """A new person with a fresh id; they join a group the first time they post in it."""
        return self.world.add_user(
            first_name, username=username, language_code=language_code, last_name=last_name
        )

    def private_chat(self, user: User) -> Chat:
        """The private chat of ``user`` with the bot (its id is the user's id)."""
        return self.world.private_chat(user)

    def add_group(
        self,
        title: str = "Test group",
        *,
        username: str | None = None,
        supergroup: bool = True,
        bot_status: str = "member",
    ) -> Chat:
        """A group the bot is already in (``bot_status``); public if it has a ``username``.

        Supergroup ids look like Telegram's (-100…), basic groups are small negatives.
        """
        serial = self.world.next_serial()
        chat = Chat(
            id=-1_001_000_000_000 - serial if supergroup else -400_000_000 - serial,
            type="supergroup" if supergroup else "group",
            title=title,
            username=username,
        )
        self.world.add_chat(chat)
        self.world.set_status(chat.id, self.bot_user.id, bot_status)
        return chat

    def add_channel(self, title: str = "Test channel", *, username: str | None = None) -> Chat:
        """A channel, for messages forwarded from it."""
        serial = self.world.next_serial()
        chat = Chat(id=-1_002_000_000_000 - serial, type="channel", title=title, username=username)
        return self.world.add_chat(chat)

    def set_member(self, chat: Chat, user: User, status: str) -> None:
        """Sets a status: creator, administrator, member, left or kicked (no update is sent)."""
        self.world.set_status(chat.id, user.id, status)

    def block_bot(self, user: User) -> None:
        """The user blocks the bot: its private messages to them now fail with 403."""
        user.blocked_bot = True
        self.world.change_bot_status(self.private_chat(user), user, "kicked")

    # Posting messages

    def send_text(self, chat: Chat, user: User, text: str, *, reply_to: int | None = None) -> int:
        """The user posts ``text``; a leading /command and @mentions get their entities."""
        content: dict[str, Any] = {"text": text}
        entities = user_text_entities(text)
        if entities:
            content["entities"] = entities
        return self._post(chat, user, content, reply_to)

    def send_photo(
        self,
        chat: Chat,
        user: User,
        image: bytes,
        *,
        caption: str | None = None,
        media_group_id: str | None = None,
        forward_from: ForwardSource | None = None,
        reply_to: int | None = None,
        file_size: int | None = None,
    ) -> int:
        """The user posts a photo; ``message.photo[-1]`` serves exactly ``image``.

        ``file_size`` makes Telegram claim another size for the original (above 20 MB
        getFile refuses it). ``forward_from`` makes it a forward from a user, a chat or
        channel, or (a string) a user who hides their account.
        """
        content: dict[str, Any] = {
            "photo": self.world.register_photo(image, declared_size=file_size),
            **_caption(caption),
        }
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        if forward_from is not None:
            content["forward_origin"] = _forward_origin(forward_from)
        return self._post(chat, user, content, reply_to)

    def send_album(
        self,
        chat: Chat,
        user: User,
        images: Sequence[bytes],
        *,
        caption: str | None = None,
        reply_to: int | None = None,
    ) -> list[int]:
        """The user posts 2–10 photos at once: one media group, consecutive message ids.

        As in Telegram, the caption belongs to the first photo only, and an album sent as a
        reply is a reply in each of its photos.
        """
        if not 2 <= len(images) <= 10:
            raise ValueError("an album holds 2 to 10 photos")
        group_id = str(20_000_000_000_000 + self.world.next_serial())
        return [
            self.send_photo(
                chat,
                user,
                image,
                caption=caption if index == 0 else None,
                media_group_id=group_id,
                reply_to=reply_to,
            )
            for index, image in enumerate(images)
        ]

    def send_document(
        self,
        chat: Chat,
        user: User,
        data: bytes,
        file_name: str,
        mime_type: str,
        *,
        caption: str | None = None,
        reply_to: int | None = None,
        file_size: int | None = None,
    ) -> int:
        """The user posts a file (e.g. a picture "sent as file", uncompressed)."""
        stored = self.world.register_file(
            data, "document", extension_of(file_name), declared_size=file_size
        )
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": stored.size,
        }
        return self._post(chat, user, {"document": document, **_caption(caption)}, reply_to)

    def send_sticker(
        self,
        chat: Chat,
        user: User,
        emoji: str = "🙂",
        *,
        data: bytes = b"RIFF\x00\x00\x00\x00WEBP",
        is_video: bool = False,
        is_animated: bool = False,
        thumbnail: bytes | None = None,
    ) -> int:
        """The user posts a sticker: a still WebP, a video sticker (WebM) or an animated one
        (``.tgs``, whose pictures only its ``thumbnail`` shows)."""
        details = {
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": is_animated,
            "is_video": is_video,
            "emoji": emoji,
            **self._thumbnail(thumbnail),
        }
        return self._post_media(chat, user, "sticker", data, details, None, None, None)

    def send_video(
        self,
        chat: Chat,
        user: User,
        data: bytes = b"\x00\x00\x00\x18ftypmp42",
        *,
        caption: str | None = None,
        kind: Literal["video", "animation", "video_note"] = "video",
        thumbnail: bytes | None = None,
        file_size: int | None = None,
        mime_type: str = "video/mp4",
        reply_to: int | None = None,
    ) -> int:
        """The user posts a video, an animation (a GIF, which Telegram also lists as the
        message's document) or a round video note, with the ``thumbnail`` Telegram made of it.

        ``file_size`` makes Telegram claim another size (above 20 MB getFile refuses it).
        """
        shape = {"length": 240} if kind == "video_note" else {"width": 320, "height": 240}
        details = {**shape, "duration": 3, **self._thumbnail(thumbnail)}
        if kind != "video_note":
            details["mime_type"] = mime_type
        return self._post_media(chat, user, kind, data, details, caption, file_size, reply_to)

    def _thumbnail(self, data: bytes | None) -> dict[str, Any]:
        if data is None:
            return {}
        stored = self.world.register_file(data, "thumbnail")
        thumbnail = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 320,
            "height": 240,
            "file_size": stored.size,
        }
        return {"thumbnail": thumbnail}

    def _post_media(
        self,
        chat: Chat,
        user: User,
        kind: str,
        data: bytes,
        details: dict[str, Any],
        caption: str | None,
        file_size: int | None,
        reply_to: int | None,
    ) -> int:
        stored = self.world.register_file(data, kind, declared_size=file_size)
        stored.details = details
        body = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            **details,
        }
        content = {**media_content(kind, body), **_caption(caption)}
        return self._post(chat, user, content, reply_to)

    # Buttons, inline mode, membership

    def press_button(self, chat: Chat, user: User, message_id: int, callback_data: str) -> str:
        """The user taps an inline button under a stored message; returns the query id."""
        message = self.world.message(chat.id, message_id)
        if message is None:
            raise ValueError(f"no message {message_id} in chat {chat.id}")
        query_id = str(4_000_000_000_000_000 + self.world.next_serial())
        query = {
            "id": query_id,
            "from": user.to_api(),
            "message": message,
            "chat_instance": str(abs(chat.id) * 7919),
            "data": callback_data,
        }
        self.world.open_callback_queries[query_id] = query
        self.world.updates.push("callback_query", query)
        return query_id

    def inline_query(
        self, user: User, query: str, offset: str = "", *, chat_type: str = "sender"
    ) -> str:
        """The user types ``@bot query`` in some chat; returns the inline query id."""
        query_id = str(5_000_000_000_000_000 + self.world.next_serial())
        payload = {
            "id": query_id,
            "from": user.to_api(),
            "query": query,
            "offset": offset,
            "chat_type": chat_type,
        }
        self.world.open_inline_queries[query_id] = payload
        self.world.updates.push("inline_query", payload)
        return query_id

    def bot_added(self, chat: Chat, by_user: User, status: str = "member") -> int:
        """Someone adds the bot to a group: ``my_chat_member``, then the service message.

        Returns the id of the "new_chat_members" service message.
        """
        self.world.change_bot_status(chat, by_user, status)
        return self._post(chat, by_user, {"new_chat_members": [self.bot_user.to_api()]}, None)

    def bot_removed(self, chat: Chat, by_user: User) -> None:
        """Someone removes the bot: "kicked" from a supergroup, "left" from a basic group."""
        new_status = "kicked" if chat.type == "supergroup" else "left"
        self.world.change_bot_status(chat, by_user, new_status)

    def upgrade_to_supergroup(self, group: Chat, by_user: User) -> Chat:
        """A basic group becomes a supergroup: a new chat id with the same members; Telegram
        posts ``migrate_to_chat_id`` in the old chat and ``migrate_from_chat_id`` in the new."""
        supergroup = self.add_group(
            group.title or "", bot_status=self.world.status(group.id, self.bot_user.id)
        )
        for user_id, status in self.world.members[group.id].items():
            self.world.set_status(supergroup.id, user_id, status)
        self._post(group, by_user, {"migrate_to_chat_id": supergroup.id}, None)
        self._post(supergroup, by_user, {"migrate_from_chat_id": group.id}, None)
        return supergroup

    # Shared by the posting helpers

    def _post(self, chat: Chat, user: User, content: dict[str, Any], reply_to: int | None) -> int:
        """Stores the message and queues it for the bot if the bot would see it."""
        members = self.world.members[chat.id]
        if user.id not in members:
            self.world.set_status(chat.id, user.id, "member")
        elif members[user.id] not in PRESENT_STATUSES:
            raise ValueError(f"{user.first_name} is {members[user.id]} in the chat, cannot post")
        replied = None
        if reply_to is not None:
            replied = self.world.message(chat.id, reply_to)
            if replied is None:
                raise ValueError(f"no message {reply_to} in chat {chat.id} to reply to")
        message = self.world.new_message(chat, user, content, replied)
        if self._bot_sees(chat, message):
            self.world.updates.push("message", message)
        return message["message_id"]

    def _bot_sees(self, chat: Chat, message: dict[str, Any]) -> bool:
        """Telegram's delivery rules: members only; privacy mode lets through little.

        A bot in privacy mode (``can_read_all_group_messages`` false) that is not an admin
        gets only commands, mentions of itself, replies to its messages and service messages.
        """
        if chat.type == "private":
            return True
        status = self.world.status(chat.id, self.bot_user.id)
        if status not in PRESENT_STATUSES:
            return False
        if self.world.bot.can_read_all_group_messages or status in ADMIN_STATUSES:
            return True
        text = message.get("text") or message.get("caption") or ""
        replied = message.get("reply_to_message")
        return (
            text.startswith("/")
            or f"@{self.bot_user.username}".lower() in text.lower()
            or (replied is not None and self.world.is_from_bot(replied))
            or not SERVICE_FIELDS.isdisjoint(message)
        )


#: Service messages, which a bot in privacy mode receives too.
SERVICE_FIELDS = frozenset({"new_chat_members", "migrate_to_chat_id", "migrate_from_chat_id"})


def _caption(caption: str | None) -> dict[str, Any]:
    if caption is None:
        return {}
    content: dict[str, Any] = {"caption": caption}
    entities = user_text_entities(caption)
    if entities:
        content["caption_entities"] = entities
    return content


def _forward_origin(source: ForwardSource) -> dict[str, Any]:
    """The ``forward_origin`` (MessageOrigin) Telegram attaches to a forwarded message."""
    if isinstance(source, str):
        return {"type": "hidden_user", "date": now(), "sender_user_name": source}
    if isinstance(source, User):
        return {"type": "user", "date": now(), "sender_user": source.to_api()}
    if source.type == "channel":
        return {"type": "channel", "date": now(), "chat": source.to_api(), "message_id": 1}
    return {"type": "chat", "date": now(), "sender_chat": source.to_api()}
