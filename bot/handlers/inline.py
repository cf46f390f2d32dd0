"""Inline mode: "@bot <description>" in any chat offers the asker's matching pictures."""

from __future__ import annotations

from dataclasses import replace

from telegram import InlineQuery, InlineQueryResultsButton, Update

from bot.context import BotContext, texts_of
from bot.handlers.search import filter_hint, unknown_poster_hint
from bot.results.continuations import Continuation
from bot.results.relevance import Query, next_page
from bot.results.replies import clipped, inline_result
from bot.updates.receipts import answering_starts
from indexer.errors import BadQueryError, UnknownCollectionError, UnknownPosterError
from indexer.records import ParsedQuery

#: Results per inline answer; clients ask for the next ones (by ``next_offset``) on scrolling.
PAGE_SIZE = 20
#: Answers are personal (they depend on the asker's groups) and cached only briefly.
CACHE_SECONDS = 10
#: Telegram shows a short line above inline results: a hint is cut to this many characters.
HINT_CHARS = 64


async def inline_search(update: Update, context: BotContext) -> None:
    """Typing @bot and a description (and/or filters) anywhere: the asker's matching
    pictures, to send. A filter that cannot be read is answered with its hint as the button
    above the (empty) results."""
    inline = update.inline_query
    assert inline is not None
    text = inline.query.strip()
    answering_starts()  # an inline search stores nothing: it holds no update back
    texts = texts_of(update)
    parsed = context.service.parse_query(text)
    if parsed.problems:
        await _answer_with_hint(inline, filter_hint(texts, parsed.problems[0]))
        return
    continuation = await _continuation(context, inline.from_user.id, text, parsed, inline.offset)
    if continuation is None:
        await inline.answer([], cache_time=CACHE_SECONDS, is_personal=True)
        return
    try:
        page = await next_page(
            context.service,
            continuation.query,
            context.deps.relevance,
            PAGE_SIZE,
            continuation.seen,
        )
    except UnknownPosterError as unknown:
        await _answer_with_hint(inline, unknown_poster_hint(texts, unknown.name))
        return
    except (BadQueryError, UnknownCollectionError):
        await inline.answer([], cache_time=CACHE_SECONDS, is_personal=True)
        return
    offered = (
        inline_result(texts, rank, hit, context.group_facts)
        for rank, hit in enumerate(page.hits, start=page.first_rank)
    )
    results = [result for result in offered if result is not None]
    next_offset = (
        context.deps.pages.save(
            Continuation(continuation.query, page.seen, owner=inline.from_user.id)
        )
        if page.has_more
        else ""
    )
    await inline.answer(
        results, cache_time=CACHE_SECONDS, is_personal=True, next_offset=next_offset
    )


async def _answer_with_hint(inline: InlineQuery, hint: str) -> None:
    """No results, and the hint as the button above them (it opens /help in private)."""
    button = InlineQueryResultsButton(text=clipped(hint, HINT_CHARS), start_parameter="help")
    await inline.answer([], cache_time=CACHE_SECONDS, is_personal=True, button=button)


async def _continuation(
    context: BotContext, user_id: int, text: str, parsed: ParsedQuery, offset: str
) -> Continuation | None:
    """Where this inline query starts: a fresh search, or the page after ``offset``.

    None when there is nothing to search: an empty query, no groups (a continued search
    covers only the groups the asker may still search), too many queries, or an offset that
    expired. A continued search keeps the filters read for its first page.
    """
    if not text:
        return None
    if offset:
        saved = context.deps.pages.take(offset, owner=user_id)
        if saved is None or saved.query.asked != text:
            return None
        groups = await context.still_searchable(user_id, saved.query.groups)
        if not groups:
            return None
        return replace(saved, query=replace(saved.query, groups=groups))
    if context.deps.limiter.acquire(user_id):
        return None
    groups = await context.personal_groups(user_id)
    if not groups:
        return None
    query = Query(groups, text=parsed.words, filters=parsed.filters, asked=text)
    return Continuation(query, frozenset(), user_id)
