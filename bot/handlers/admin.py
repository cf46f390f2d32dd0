"""Looking after a group's index: /stats, /reindex (admins), /forget, /optout and /optin."""

from __future__ import annotations

import asyncio
import logging

from telegram import Message, Update

from bot.chats import collection_of
from bot.context import BotContext, texts_of
from bot.fetcher import TelegramPicture
from bot.messages import message_of, sender_of
from bot.phrases import Texts
from bot.results.progress import ProgressMessage
from bot.results.replies import duration, stats_text
from indexer.errors import ReindexInProgressError, UnknownCollectionError

log = logging.getLogger(__name__)


async def stats(update: Update, context: BotContext) -> None:
    """/stats: how many pictures are indexed here, with which model and index."""
    message = message_of(update)
    texts = texts_of(update)
    try:
        numbers = await context.service.stats(collection_of(message.chat_id))
    except UnknownCollectionError:
        await message.reply_text(texts.nothing_indexed)
        return
    reading_on = context.service.config.ocr.enabled
    poisoned = context.deps.deliveries.poisoned
    await message.reply_text(stats_text(texts, numbers, poisoned, reading_on))


async def reindex(update: Update, context: BotContext) -> None:
    """/reindex (admins only): re-embeds this group's pictures, editing one progress message."""
    message = message_of(update)
    texts = texts_of(update)
    if not await context.deps.permissions.may_administer(message):
        await message.reply_text(texts.admin_only)
        return
    collection = collection_of(message.chat_id)
    running = context.deps.reindexes
    if collection in running or context.service.is_reindexing(collection):
        await message.reply_text(texts.reindex_running)
        return
    task = context.application.create_task(
        _reindex(context, collection, message, texts), update=update
    )
    running[collection] = task
    task.add_done_callback(lambda _: running.pop(collection, None))


async def forget(update: Update, context: BotContext) -> None:
    """/forget as a reply to a picture (by its poster or an admin): it is never found again."""
    message = message_of(update)
    texts = texts_of(update)
    replied = message.reply_to_message
    if replied is None or TelegramPicture.of_message(replied) is None:
        await message.reply_text(texts.forget_usage)
        return
    collection = collection_of(message.chat_id)
    try:
        records = await context.service.images_of_message(collection, replied.message_id)
    except UnknownCollectionError:
        records = []
    if not records:
        await message.reply_text(texts.forget_nothing)
        return
    caller, _ = sender_of(message)
    is_poster = caller is not None and any(r.poster_id == caller for r in records)
    if not is_poster and not await context.deps.permissions.may_administer(message):
        await message.reply_text(texts.forget_not_allowed)
        return
    count = await context.service.forget_message(collection, replied.message_id)
    await message.reply_text(texts.forgotten.format(count=count))


async def opt_out(update: Update, context: BotContext) -> None:
    """/optout: forgets the caller's pictures in this group and stops indexing new ones."""
    message = message_of(update)
    caller, _ = sender_of(message)
    assert caller is not None
    count = await context.service.opt_out(collection_of(message.chat_id), caller)
    await message.reply_text(texts_of(update).opted_out.format(count=count))


async def opt_in(update: Update, context: BotContext) -> None:
    """/optin: the caller's new pictures in this group are indexed again."""
    message = message_of(update)
    caller, _ = sender_of(message)
    assert caller is not None
    await context.service.opt_in(collection_of(message.chat_id), caller)
    await message.reply_text(texts_of(update).opted_in)


async def _reindex(context: BotContext, collection: str, command: Message, texts: Texts) -> None:
    """The background part of /reindex: runs it and reports in one message, edited."""
    progress = ProgressMessage(await command.reply_text(texts.reindex_started), texts)
    try:
        result = await context.service.reindex(collection, progress.report)
    except ReindexInProgressError:
        await progress.show(texts.reindex_running)
    except UnknownCollectionError:
        await progress.show(texts.nothing_indexed)
    except asyncio.CancelledError:
        last = progress.last
        await progress.show(
            texts.reindex_interrupted.format(
                done=last.done if last else 0, total=last.total if last else "?"
            )
        )
        raise
    else:
        log.info("reindexed %s: %s", collection, result)
        await progress.show(
            texts.reindex_done.format(
                done=result.done, elapsed=duration(result.elapsed_seconds), failed=result.failed
            )
        )
