"""Admitting a person's request: the per-person limit, and the one notice when it is reached."""

from __future__ import annotations

from telegram import Chat, Update

from bot.context import BotContext, texts_of
from bot.messages import message_of


async def admitted(update: Update, context: BotContext, user_id: int) -> bool:
    """Counts a request of the person; False (after at most one notice) when over the limit.

    The notice is sent once per person per window, and in a group only while no answers
    there are waiting to be sent: the group's send budget is theirs.
    """
    refusal = context.deps.limiter.acquire(user_id)
    if refusal is None:
        return True
    message = message_of(update)
    chat = message.chat
    if refusal.notify and (chat.type == Chat.PRIVATE or not context.deps.turns.busy(chat.id)):
        await message.reply_text(texts_of(update).slow_down.format(seconds=refusal.seconds))
    return False
