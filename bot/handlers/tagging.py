"""Teaching the bot a group's own words: /tag as a reply to a picture."""

from __future__ import annotations

from telegram import Update

from bot.chats import collection_of
from bot.context import BotContext, texts_of
from bot.fetcher import TelegramPicture
from bot.handlers.admission import admitted
from bot.messages import command_argument, message_of, sender_of
from indexer.errors import BadQueryError, PictureNotFoundError, UnknownCollectionError


async def tag(update: Update, context: BotContext) -> None:
    """/tag <words> as a reply to a picture: those words find it from now on.

    Tagging runs the model, so it counts against the person's limit like a search.
    """
    message = message_of(update)
    texts = texts_of(update)
    replied = message.reply_to_message
    words = command_argument(message)
    if replied is None or TelegramPicture.of_message(replied) is None or not words:
        await message.reply_text(texts.tag_usage)
        return
    caller, _ = sender_of(message)
    user = update.effective_user
    assert user is not None
    if not await admitted(update, context, user.id):
        return
    try:
        async with context.deps.turns.answering(user.id, message.chat_id):
            tags = await context.service.tag_message(
                collection_of(message.chat_id), replied.message_id, words, caller
            )
    except (PictureNotFoundError, UnknownCollectionError):
        await message.reply_text(texts.forget_nothing)
        return
    except BadQueryError:
        limit = context.service.config.limits.max_query_chars
        await message.reply_text(texts.query_too_long.format(limit=limit))
        return
    await message.reply_text(texts.tagged.format(tag=" ".join(words.split()), count=len(tags)))
