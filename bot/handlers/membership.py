"""The bot joining or leaving groups: a group it leaves is no longer searched (or is purged)."""

from __future__ import annotations

import logging

from telegram import Chat, Update

from bot.chats import collection_of
from bot.context import BotContext
from bot.permissions import is_present
from indexer.errors import UnknownCollectionError

log = logging.getLogger(__name__)


async def track_membership(update: Update, context: BotContext) -> None:
    """Nothing visible: notes the bot's arrival in or removal from a group."""
    change = update.my_chat_member
    assert change is not None
    chat = change.chat
    if chat.type not in (Chat.GROUP, Chat.SUPERGROUP):
        return
    context.group.remember(chat)
    context.group.present = is_present(change.new_chat_member)
    if context.group.present:
        log.info("added to chat %s (%s)", chat.id, chat.title)
        return
    log.info("removed from chat %s (%s): no longer indexed or searched", chat.id, chat.title)
    if context.settings.purge_on_removal:
        try:
            forgotten = await context.service.forget_collection(collection_of(chat.id))
        except UnknownCollectionError:
            return
        log.info("chat %s: purged %d pictures", chat.id, forgotten)


async def follow_migration(update: Update, context: BotContext) -> None:
    """Nothing visible: a group that became a supergroup keeps its pictures and settings."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    old, new = message.chat.id, message.migrate_to_chat_id
    await context.service.move_collection(collection_of(old), collection_of(new))
    context.application.migrate_chat_data(message=message)
    log.info("chat %s became supergroup %s: its pictures moved along", old, new)
