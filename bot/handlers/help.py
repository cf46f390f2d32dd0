"""Explaining the bot: /start and /help, unknown commands, commands used in the wrong place."""

from __future__ import annotations

from telegram import Chat, Update

from bot.context import BotContext, texts_of
from bot.messages import message_of


async def help_command(update: Update, context: BotContext) -> None:
    """/start, /help: how to search (in a private chat) or how the bot works here (in a group),
    and the filters a search may carry."""
    message = message_of(update)
    texts = texts_of(update)
    if message.chat.type == Chat.PRIVATE:
        await message.reply_text(
            texts.help_private.format(bot=context.bot.username) + texts.help_filters
        )
    else:
        await message.reply_text(texts.help_group + texts.help_filters)


async def unknown_command(update: Update, context: BotContext) -> None:
    """An unknown /command in a private chat: a one-line hint."""
    await message_of(update).reply_text(texts_of(update).unknown_command)


async def group_only(update: Update, context: BotContext) -> None:
    """A group command (/stats, /forget...) in a private chat: says where it works."""
    await message_of(update).reply_text(texts_of(update).group_only)
