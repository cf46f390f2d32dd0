"""The one error handler: a failing handler is logged and apologised for, never fatal."""

from __future__ import annotations

import logging

from telegram import Chat, Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.context import BotContext, texts_of
from bot.messages import mentions_of
from bot.updates.receipts import is_storage_failure

log = logging.getLogger(__name__)


async def apologize(update: object, context: BotContext) -> None:
    """Logs the failure with its update id; a person who asked something gets a short sorry.

    An update that could not store what it must (a full disk) is not a failure of its own: it
    is handed back unconfirmed, to be handled again, and no later handler runs for it now.
    """
    if isinstance(update, Update) and is_storage_failure(context.error):
        assert context.error is not None
        context.deps.deliveries.note_not_stored(update, context.error)
        raise ApplicationHandlerStop
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("handling update %s failed", update_id, exc_info=context.error)
    if not isinstance(update, Update) or not _asked_the_bot(update, context.bot.username):
        return
    sorry = texts_of(update).sorry
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(sorry)
        elif update.effective_chat is not None:
            await context.bot.send_message(update.effective_chat.id, sorry)
    except TelegramError as exc:
        log.warning("could not apologise for update %s: %s", update_id, exc)


def _asked_the_bot(update: Update, username: str) -> bool:
    """Whether the update expects an answer: a button, a private message, a command.

    Pictures posted in a group are indexed silently, so a failure there is only logged.
    """
    if update.callback_query is not None:
        return True
    message = update.effective_message
    if message is None:
        return False
    text = message.text or message.caption or ""
    return (
        message.chat.type == Chat.PRIVATE
        or text.startswith("/")
        or bool(mentions_of(message, username))
    )
