"""Every handler of the bot, registered in one place: the list of what people can do.

Handler groups run in order and each update may trigger one handler per group:

0. bookkeeping: remember group titles, notice the bot joining or leaving a group;
1. indexing: every picture, clip, GIF, video note and sticker posted in a group, silently;
2. conversation: commands, searches, buttons and inline queries.
"""

from __future__ import annotations

from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.handlers.admin import forget, opt_in, opt_out, reindex, stats
from bot.handlers.errors import apologize
from bot.handlers.groups import choose_groups, list_groups
from bot.handlers.help import group_only, help_command, unknown_command
from bot.handlers.indexing import index_picture, remember_group
from bot.handlers.inline import inline_search
from bot.handlers.membership import follow_migration, track_membership
from bot.handlers.search import (
    MENTIONS_BOT,
    SEARCH_CAPTION,
    more_results,
    search_caption,
    search_command,
    search_mention,
    search_private_picture,
    search_private_text,
    similar_reply,
    unknown_button,
)
from bot.handlers.tagging import tag
from bot.results.replies import MORE_PREFIX, ONLY_PREFIX

#: The update types the bot asks Telegram for (no edits: an edited /search is not a new one).
ALLOWED_UPDATES = ["message", "callback_query", "inline_query", "my_chat_member"]

_BOOKKEEPING, _INDEXING, _CONVERSATION = 0, 1, 2

_GROUP_COMMANDS = {
    "stats": stats,
    "reindex": reindex,
    "forget": forget,
    "tag": tag,
    "optout": opt_out,
    "optin": opt_in,
}


def register_handlers(application: Application) -> None:  # type: ignore[type-arg]
    """Adds every handler and the error handler to ``application``."""
    groups, private = filters.ChatType.GROUPS, filters.ChatType.PRIVATE
    pictures = filters.PHOTO | filters.Document.IMAGE
    clips = (
        filters.VIDEO
        | filters.ANIMATION
        | filters.VIDEO_NOTE
        | filters.Sticker.ALL
        | filters.Document.VIDEO
    )
    application.add_handlers(
        [
            MessageHandler(groups, remember_group),
            ChatMemberHandler(track_membership, ChatMemberHandler.MY_CHAT_MEMBER),
        ],
        group=_BOOKKEEPING,
    )
    application.add_handlers(
        [
            MessageHandler(groups & (pictures | clips), index_picture),
            MessageHandler(filters.StatusUpdate.MIGRATE, follow_migration),
        ],
        group=_INDEXING,
    )
    application.add_handlers(
        [
            CommandHandler(["start", "help"], help_command),
            CommandHandler(["search", "s"], search_command),
            CommandHandler("similar", similar_reply),
            CommandHandler("groups", list_groups, filters=private),
            *(
                CommandHandler(name, callback, filters=groups)
                for name, callback in _GROUP_COMMANDS.items()
            ),
            CommandHandler(list(_GROUP_COMMANDS), group_only, filters=private),
            MessageHandler(groups & pictures & SEARCH_CAPTION, search_caption),
            MessageHandler(groups & filters.TEXT & MENTIONS_BOT, search_mention),
            MessageHandler(private & filters.TEXT & ~filters.COMMAND, search_private_text),
            MessageHandler(private & pictures, search_private_picture),
            MessageHandler(private & filters.COMMAND, unknown_command),
            CallbackQueryHandler(more_results, pattern=f"^{MORE_PREFIX}"),
            CallbackQueryHandler(choose_groups, pattern=f"^{ONLY_PREFIX}"),
            CallbackQueryHandler(unknown_button),
            InlineQueryHandler(inline_search),
        ],
        group=_CONVERSATION,
    )
    application.add_error_handler(apologize)
