"""Reading what people sent: the message of an update, who sent it, a command's argument."""

from __future__ import annotations

from telegram import Message, MessageEntity, Update

#: Commands a picture's caption may start with to search with that picture.
SEARCH_COMMANDS = ("/search", "/s", "/similar")


def message_of(update: Update) -> Message:
    """The message a message handler was called for."""
    message = update.effective_message
    assert message is not None, "a message handler got an update without a message"
    return message


def sender_of(message: Message) -> tuple[int | None, str | None]:
    """Who sent a message: a person, or a chat writing as itself (anonymous admin, channel)."""
    if message.sender_chat is not None:
        return message.sender_chat.id, message.sender_chat.title
    if message.from_user is not None:
        return message.from_user.id, message.from_user.full_name
    return None, None


def username_of(message: Message) -> str | None:
    """The sender's @username (without the "@"), for ``from:@name`` searches; None if none."""
    if message.sender_chat is not None:
        return message.sender_chat.username
    return message.from_user.username if message.from_user is not None else None


def command_argument(message: Message) -> str:
    """The text after a leading /command (and its @botname), stripped."""
    text = message.text or ""
    command = next(
        (e for e in message.entities if e.type == MessageEntity.BOT_COMMAND and e.offset == 0),
        None,
    )
    return text[command.length :].strip() if command is not None else text.strip()


def mentions_of(message: Message, username: str) -> list[str]:
    """The "@username" mentions in a message's text, as written."""
    wanted = f"@{username}".lower()
    return [
        value
        for value in message.parse_entities([MessageEntity.MENTION]).values()
        if value.lower() == wanted
    ]


def _leads_with_search(words: list[str], username: str) -> bool:
    """Whether the first word is /search, /s or /similar, alone or addressed to @username."""
    if not words:
        return False
    name, _, addressee = words[0].partition("@")
    return name in SEARCH_COMMANDS and addressee.lower() in ("", username.lower())


def caption_asks(message: Message, username: str) -> bool:
    """Whether a picture's caption asks this bot for a search with the picture: it starts with
    /search, /s or /similar (alone or addressed to @username), or mentions @username."""
    words = (message.caption or "").split()
    return _leads_with_search(words, username) or f"@{username}".lower() in (
        word.lower() for word in words
    )


def caption_words(message: Message, username: str) -> str:
    """A picture's caption without a leading /search, /s or /similar (or one addressed to
    @username) and without mentions of @username: the words to search the picture with."""
    words = (message.caption or "").split()
    if _leads_with_search(words, username):
        words = words[1:]
    mention = f"@{username}".lower()
    return " ".join(word for word in words if word.lower() != mention)
