"""Indexing: every picture posted in a group is handed to the indexer, without a word."""

from __future__ import annotations

import logging

from telegram import Update

from bot.chats import collection_of
from bot.context import BotContext
from bot.fetcher import TelegramPicture
from bot.messages import caption_asks, message_of, sender_of, username_of
from indexer.records import ImageFacts

log = logging.getLogger(__name__)


async def remember_group(update: Update, context: BotContext) -> None:
    """Nothing visible: keeps the group's title and username for /groups and result links,
    and that the sender is in it (their private searches ask about it first)."""
    assert update.effective_chat is not None
    context.group.remember(update.effective_chat)
    if context.user_data is not None:
        context.user_data.saw_in(update.effective_chat.id)


async def index_picture(update: Update, context: BotContext) -> None:
    """Nothing visible: queues a photo or picture file posted in the group for indexing."""
    message = message_of(update)
    picture = TelegramPicture.of_message(message)
    if picture is None or not context.group.present:
        return
    if picture.file_size is not None and picture.file_size > context.settings.max_download_bytes:
        log.info(
            "chat %s message %s: skipped a %d-byte picture, over the download limit",
            message.chat_id,
            message.message_id,
            picture.file_size,
        )
        return
    poster_id, poster_name = sender_of(message)
    result = await context.service.add_image(
        collection_of(message.chat_id),
        ImageFacts(
            source=picture.source,
            file_unique_id=picture.file_unique_id,
            poster_id=poster_id,
            poster_name=poster_name,
            poster_username=username_of(message),
            posted_at=message.date.timestamp(),
            message_id=message.message_id,
            # A caption asking for a search ("/search at sunset") does not describe the picture.
            caption=None if caption_asks(message, message.get_bot().username) else message.caption,
        ),
    )
    log.debug("chat %s message %s: %s", message.chat_id, message.message_id, result.outcome)
