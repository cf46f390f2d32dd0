"""/groups in a private chat: which of the asker's groups a private search looks in."""

from __future__ import annotations

from telegram import Update

from bot.chats import group_of
from bot.context import BotContext, texts_of
from bot.messages import message_of
from bot.results.replies import ALL_GROUPS, ONLY_PREFIX, groups_keyboard


async def list_groups(update: Update, context: BotContext) -> None:
    """/groups in a private chat: the asker's groups, with buttons to search only one."""
    user = update.effective_user
    assert user is not None and context.user_data is not None
    texts = texts_of(update)
    groups = await context.searchable_groups(user.id)
    if not groups:
        await message_of(update).reply_text(texts.no_groups)
        return
    titles = {chat_id: _title(context, chat_id) for chat_id in groups}
    await message_of(update).reply_text(
        texts.groups_header.format(groups="\n".join(f"• {title}" for title in titles.values())),
        reply_markup=groups_keyboard(texts, titles, context.user_data.only_group),
    )


async def choose_groups(update: Update, context: BotContext) -> None:
    """A /groups button: from now on, search only that group, or all of them."""
    button = update.callback_query
    assert button is not None and context.user_data is not None
    texts = texts_of(update)
    choice = (button.data or "").removeprefix(ONLY_PREFIX)
    await button.answer()
    if choice == ALL_GROUPS:
        context.user_data.only_group = None
        await button.edit_message_text(texts.scope_all)
        return
    chat_id = group_of(choice)
    if chat_id is None:
        return  # not a button this bot made: answered, nothing changes
    if not await context.deps.permissions.is_member(chat_id, button.from_user.id):
        await button.edit_message_text(texts.not_a_member)
        return
    context.user_data.only_group = chat_id
    await button.edit_message_text(texts.scope_one.format(title=_title(context, chat_id)))


def _title(context: BotContext, chat_id: int) -> str:
    facts = context.group_facts.get(chat_id)
    return (facts.title if facts is not None else None) or str(chat_id)
