"""Searching: by description, by example picture or both, in a group or in a private chat.

A query may carry filters (``from:@ben after:2025-06 kind:video sort:new``, read by the
engine's ``parse_query``); one that cannot be read gets a one-line hint, not an empty result.

In a group, results come only from that group. In a private chat they come from the groups
the asker is a member of now (or the one they chose with /groups).
"""

from __future__ import annotations

from dataclasses import replace

from telegram import Chat, Message, Update
from telegram.ext import filters

from bot.context import BotContext, texts_of
from bot.fetcher import TelegramPicture, download
from bot.handlers.admission import admitted
from bot.messages import (
    caption_asks,
    caption_words,
    command_argument,
    mentions_of,
    message_of,
)
from bot.phrases import Texts
from bot.results.continuations import Continuation
from bot.results.relevance import Query, next_page
from bot.results.replies import (
    MORE_PREFIX,
    clipped,
    send_page,
    send_text,
)
from bot.updates.receipts import answering_starts
from indexer.errors import (
    BadImageError,
    BadQueryError,
    UnknownCollectionError,
    UnknownPosterError,
)
from indexer.records import PictureQuery, QueryProblem


class _MentionsBot(filters.MessageFilter):
    """Messages whose text mentions this bot by @username."""

    def filter(self, message: Message) -> bool:
        return bool(mentions_of(message, message.get_bot().username))


class _SearchCaption(filters.MessageFilter):
    """Pictures captioned with /similar, /search or /s (or /search@thisbot), or mentioning
    this bot: searches with that picture (and the caption's words)."""

    def filter(self, message: Message) -> bool:
        return caption_asks(message, message.get_bot().username)


MENTIONS_BOT = _MentionsBot(name="MENTIONS_BOT")
#: A hint quotes at most this many characters of what was typed: a filter or name near
#: Telegram's 4096 characters would make a hint too long to send, and the asker get nothing.
QUOTED_CHARS = 64
SEARCH_CAPTION = _SearchCaption(name="SEARCH_CAPTION")


async def search_command(update: Update, context: BotContext) -> None:
    """/search <description and/or filters> (or /s): the best matching pictures, or with
    filters alone (/search from:@ben last:7d) the pictures passing them, newest first."""
    message = message_of(update)
    text = command_argument(message)
    if not text:
        await message.reply_text(texts_of(update).search_usage)
        return
    await _answer(update, context, text=text)


async def search_mention(update: Update, context: BotContext) -> None:
    """A message mentioning @bot with a description, in a group: the same as /search."""
    message = message_of(update)
    text = message.text or ""
    for mention in mentions_of(message, message.get_bot().username):
        text = text.replace(mention, " ")
    if not text.strip():
        await message.reply_text(texts_of(update).search_usage)
        return
    await _answer(update, context, text=" ".join(text.split()))


async def search_private_text(update: Update, context: BotContext) -> None:
    """Any text in a private chat: a search of the asker's groups."""
    await _answer(update, context, text=message_of(update).text or "")


async def search_private_picture(update: Update, context: BotContext) -> None:
    """A photo or picture file in a private chat (forwarded too): similar pictures, changed
    as its caption says if the asker wrote one ("at sunset"; a forward's caption was written
    for someone else, so it changes nothing)."""
    message = message_of(update)
    own = message.forward_origin is None
    await _answer(
        update,
        context,
        text=caption_words(message, message.get_bot().username) if own else "",
        picture=TelegramPicture.of_message(message),
    )


async def similar_reply(update: Update, context: BotContext) -> None:
    """/similar [words] as a reply to a picture: pictures similar to it (changed as the
    words say)."""
    message = message_of(update)
    replied = message.reply_to_message
    picture = TelegramPicture.of_message(replied) if replied is not None else None
    if picture is None:
        await message.reply_text(texts_of(update).similar_usage)
        return
    await _answer(update, context, text=command_argument(message), picture=picture)


async def search_caption(update: Update, context: BotContext) -> None:
    """A photo captioned /similar, /search or @bot, with words or not: pictures similar to
    it, changed as the words say (the photo is indexed as well)."""
    message = message_of(update)
    await _answer(
        update,
        context,
        text=caption_words(message, message.get_bot().username),
        picture=TelegramPicture.of_message(message),
    )


async def more_results(update: Update, context: BotContext) -> None:
    """The More button: the next page of the same search, without repeating a picture.

    Only the person who searched may page on, in the chat of the button; anyone else's
    press, a forged key or an expired one is answered quietly and uses nothing up.
    """
    button = update.callback_query
    assert button is not None and isinstance(button.message, Message)
    texts = texts_of(update)
    user, chat = button.from_user, button.message.chat
    refusal = context.deps.limiter.acquire(user.id)
    if refusal is not None:
        await button.answer(texts.slow_down.format(seconds=refusal.seconds))
        return
    key = (button.data or "").removeprefix(MORE_PREFIX)
    continuation = context.deps.pages.take(key, owner=user.id, chat=chat.id)
    if continuation is None:
        owner = context.deps.pages.owner_of(key)
        await button.answer(texts.expired if owner in (None, user.id) else texts.not_your_search)
        return
    await button.answer()
    answering_starts()  # a search stores nothing: its wait for a turn holds no update back
    async with context.deps.turns.answering(user.id, chat.id):
        await button.edit_message_reply_markup(None)
        query = continuation.query
        if chat.type == Chat.PRIVATE:
            groups = await context.still_searchable(user.id, query.groups)
            if not groups:
                await send_text(context.bot, chat.id, texts.no_groups, None)
                return
            query = replace(query, groups=groups)
        await _send_results(context, chat, texts, query, continuation.seen, None, user.id)


async def unknown_button(update: Update, context: BotContext) -> None:
    """A button this bot did not make (forged data): answered quietly, nothing changes."""
    assert update.callback_query is not None
    await update.callback_query.answer()


async def _answer(
    update: Update,
    context: BotContext,
    *,
    text: str = "",
    picture: TelegramPicture | None = None,
) -> None:
    """Checks the asker's rate and scope, reads the filters of ``text``, then sends the first
    page of results: of the words, of the picture (with the words, if any), or of the filters
    alone (newest first).

    A person's answers are sent one at a time (:class:`~bot.throttle.Turns`), so their
    backlog never queues ahead of other people's answers.
    """
    message = message_of(update)
    user = update.effective_user
    assert user is not None
    texts = texts_of(update)
    # A hint is an answer too: asked before the limit, anyone could have the bot post one
    # for every message, spending the group's send budget that other answers need.
    if not await admitted(update, context, user.id):
        return
    parsed = context.service.parse_query(text)
    if parsed.problems:
        await message.reply_text(filter_hint(texts, parsed.problems[0]))
        return
    filtered = parsed.filters.narrows or parsed.filters.newest
    if picture is None and not parsed.words and not filtered:
        await message.reply_text(texts.search_usage)
        return
    answering_starts()  # a search stores nothing: its wait for a turn holds no update back
    async with context.deps.turns.answering(user.id, message.chat.id):
        if message.chat.type == Chat.PRIVATE:
            groups = await context.personal_groups(user.id)
            if not groups:
                await message.reply_text(texts.no_groups)
                return
        else:
            groups = (message.chat.id,)
        query = Query(groups, text=parsed.words, filters=parsed.filters, asked=text)
        if picture is not None:
            embedded = await _picture_query(context, message, texts, picture, parsed.words)
            if embedded is None:
                return
            query = Query(groups, picture=embedded, filters=parsed.filters, asked=text)
        await _send_results(
            context, message.chat, texts, query, frozenset(), message.message_id, user.id
        )


async def _picture_query(
    context: BotContext, message: Message, texts: Texts, picture: TelegramPicture, words: str
) -> PictureQuery | None:
    """The picture (and words) embedded as one query, or None once the asker is told why not."""
    if (picture.file_size or 0) > context.settings.max_download_bytes:
        await message.reply_text(texts.too_large)
        return None
    try:
        return await context.service.picture_query(
            await download(context.bot, picture.fetch_id), words
        )
    except BadImageError:
        await message.reply_text(texts.bad_image)
    except BadQueryError:
        limit = context.service.config.limits.max_query_chars
        await message.reply_text(texts.query_too_long.format(limit=limit))
    return None


def filter_hint(texts: Texts, problem: QueryProblem) -> str:
    """One line saying what is wrong with a filter of the query and how it is written."""
    return texts.filter_problems[problem.kind].format(token=clipped(problem.token, QUOTED_CHARS))


def unknown_poster_hint(texts: Texts, name: str) -> str:
    """One line saying that nobody of that name posted a picture in the groups searched."""
    return texts.unknown_poster.format(name=clipped(name, QUOTED_CHARS))


async def _send_results(
    context: BotContext,
    chat: Chat,
    texts: Texts,
    query: Query,
    seen: frozenset[int],
    reply_to: int | None,
    owner: int,
) -> None:
    """Sends the next page of ``query`` to ``chat``, or says why there is none."""
    try:
        page = await next_page(
            context.service, query, context.deps.relevance, context.settings.results_per_page, seen
        )
    except BadQueryError:
        limit = context.service.config.limits.max_query_chars
        await send_text(context.bot, chat.id, texts.query_too_long.format(limit=limit), reply_to)
        return
    except UnknownCollectionError:
        await send_text(context.bot, chat.id, texts.nothing_indexed, reply_to)
        return
    except UnknownPosterError as unknown:
        await send_text(context.bot, chat.id, unknown_poster_hint(texts, unknown.name), reply_to)
        return
    if not page.hits:
        await send_text(context.bot, chat.id, texts.no_more if seen else texts.no_match, reply_to)
        return
    key = (
        context.deps.pages.save(Continuation(query, page.seen, owner=owner, chat=chat.id))
        if page.has_more
        else None
    )
    await send_page(
        context.bot, chat.id, texts, page, context.group_facts, more_key=key, reply_to=reply_to
    )
