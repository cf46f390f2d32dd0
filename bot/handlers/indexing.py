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
    """Nothing visible: queues a photo, clip, GIF, video note, sticker, or picture or video
    file posted in the group for indexing (one over the download limit by its thumbnail)."""
    message = message_of(update)
    if not context.group.present:
        return
    picture = TelegramPicture.of_message(message, context.settings.max_download_bytes)
    if picture is None:  # the filters let through only messages with a picture or a clip
        log.info(
            "chat %s message %s: skipped a file over the download limit, without a thumbnail",
            message.chat_id,
            message.message_id,
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
            kind=picture.indexed_as,
        ),
    )
    log.debug("chat %s message %s: %s", message.chat_id, message.message_id, result.outcome)
