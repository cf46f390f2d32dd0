"""How results look: captions with rank, score, poster, date and link; albums; the More button.

Results are re-sent by their Telegram file ids (nothing is uploaded), as what they are. Photos
and videos go in one album and pictures that were sent as files in another, because Telegram
groups documents only with documents; a lone item is sent on its own, since an album needs two
to ten items. Animations (GIFs), stickers and round video notes cannot be in an album: each is
sent on its own, the last two (which take no caption) followed by their footer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultCachedDocument,
    InlineQueryResultCachedGif,
    InlineQueryResultCachedPhoto,
    InlineQueryResultCachedSticker,
    InlineQueryResultCachedVideo,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    ReplyParameters,
)

from bot.chats import ChatFacts, group_of, message_link
from bot.fetcher import TelegramPicture
from bot.phrases import Texts
from bot.results.relevance import Page
from indexer.records import CollectionStats, SearchHit

#: Callback data of buttons: "more:<key>" pages a search, "only:<chat id>" or "only:all"
#: chooses the groups a person's private searches cover.
MORE_PREFIX = "more:"
ONLY_PREFIX = "only:"
ALL_GROUPS = "all"
#: A matched caption is cut to this many characters, so a result caption stays short.
MATCHED_TEXT_CHARS = 100


def caption(texts: Texts, rank: int, hit: SearchHit, groups: Mapping[int, ChatFacts]) -> str:
    """Rank, score, poster and date (#1 · score 0.31 · Alice · 2024-05-01), then a link.

    A hit found through its caption or tag shows those words (🏷), one found through the words
    read in the picture the words around the match (📝), instead of a score: the
    cosine of a query to a short text it contains can be low or even negative, and a number
    like that on the #1 result reads as a bug, while the words say why it was found. A
    picture listed by date (filters without words) has no score to show either.
    """
    image = hit.image
    details = {
        "rank": rank,
        "poster": image.poster_name or texts.someone,
        "date": _date(image.posted_at),
    }
    if hit.matched_text is None and not hit.by_date:
        head = texts.caption.format(score=hit.score, **details)
    else:
        head = texts.caption_by_words.format(**details)
    if hit.moment_label is not None:
        head += " · " + texts.moment.format(at=hit.moment_label)
    if hit.matched_text is not None:
        shown = texts.matched_words if hit.matched_kind == "ocr" else texts.matched
        head += "\n" + shown.format(text=clipped(hit.matched_text, MATCHED_TEXT_CHARS))
    chat_id = group_of(image.collection)
    if chat_id is None or image.message_id is None:
        return head
    facts = groups.get(chat_id)
    link = message_link(chat_id, image.message_id, facts.username if facts else None)
    return head if link is None else f"{head}\n{link}"


def clipped(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with "…" when longer.

    Cut by characters, not words: a Chinese caption has no spaces to cut at.
    """
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def send_page(
    bot: Bot,
    chat_id: int,
    texts: Texts,
    page: Page,
    groups: Mapping[int, ChatFacts],
    *,
    more_key: str | None,
    reply_to: int | None = None,
) -> None:
    """Sends a page of results as albums, then the footer with a More button if there is more,
    each as a reply to ``reply_to`` (the question) when given."""
    reply = _replying_to(reply_to)
    photos: list[InputMediaPhoto | InputMediaVideo] = []
    documents: list[InputMediaDocument] = []
    alone: list[tuple[TelegramPicture, str]] = []
    for rank, hit in enumerate(page.hits, start=page.first_rank):
        picture = TelegramPicture.of_source(hit.image.source)
        text = caption(texts, rank, hit, groups)
        if picture.kind == "photo":
            photos.append(InputMediaPhoto(picture.file_id, caption=text))
        elif picture.kind == "video":
            photos.append(InputMediaVideo(picture.file_id, caption=text))
        elif picture.kind == "document":
            documents.append(InputMediaDocument(picture.file_id, caption=text))
        else:
            alone.append((picture, text))
    for album in (photos, documents):
        await _send_album(bot, chat_id, album, reply)
    for picture, text in alone:
        await _send_alone(bot, chat_id, picture, text, reply)
    if more_key is not None:
        last = page.first_rank + len(page.hits) - 1
        # A reply to the question too: in a busy group it shows whose results the button
        # pages on (only the person who asked may press it).
        await bot.send_message(
            chat_id,
            texts.results_footer.format(first=page.first_rank, last=last),
            reply_markup=_more_button(texts, more_key),
            reply_parameters=reply,
        )


async def send_text(bot: Bot, chat_id: int, text: str, reply_to: int | None = None) -> None:
    """A plain message, as a reply to ``reply_to`` if that message still exists."""
    await bot.send_message(chat_id, text, reply_parameters=_replying_to(reply_to))


def _replying_to(message_id: int | None) -> ReplyParameters | None:
    if message_id is None:
        return None
    return ReplyParameters(message_id=message_id, allow_sending_without_reply=True)


async def _send_album(
    bot: Bot,
    chat_id: int,
    album: Sequence[InputMediaPhoto | InputMediaVideo | InputMediaDocument],
    reply: ReplyParameters | None,
) -> None:
    if not album:
        return
    if len(album) > 1:
        await bot.send_media_group(chat_id, album, reply_parameters=reply)
        return
    (item,) = album
    if isinstance(item, InputMediaPhoto):
        await bot.send_photo(chat_id, item.media, caption=item.caption, reply_parameters=reply)
    elif isinstance(item, InputMediaVideo):
        await bot.send_video(chat_id, item.media, caption=item.caption, reply_parameters=reply)
    else:
        await bot.send_document(chat_id, item.media, caption=item.caption, reply_parameters=reply)


async def _send_alone(
    bot: Bot, chat_id: int, item: TelegramPicture, text: str, reply: ReplyParameters | None
) -> None:
    """An animation with its caption; a sticker or a video note, then its footer."""
    if item.kind == "animation":
        await bot.send_animation(chat_id, item.file_id, caption=text, reply_parameters=reply)
        return
    if item.kind == "sticker":
        sent = await bot.send_sticker(chat_id, item.file_id, reply_parameters=reply)
    else:
        sent = await bot.send_video_note(chat_id, item.file_id, reply_parameters=reply)
    await bot.send_message(chat_id, text, reply_parameters=_replying_to(sent.message_id))


InlineResult = (
    InlineQueryResultCachedPhoto
    | InlineQueryResultCachedDocument
    | InlineQueryResultCachedVideo
    | InlineQueryResultCachedGif
    | InlineQueryResultCachedSticker
)


def inline_result(
    texts: Texts, rank: int, hit: SearchHit, groups: Mapping[int, ChatFacts]
) -> InlineResult | None:
    """One inline-mode result, sent by file id with the same caption as in an album (a
    sticker takes none); None for a round video note, which inline mode cannot offer."""
    picture = TelegramPicture.of_source(hit.image.source)
    text = caption(texts, rank, hit, groups)
    result_id = str(hit.image.id)
    title = text.splitlines()[0]
    if picture.kind == "photo":
        return InlineQueryResultCachedPhoto(result_id, picture.file_id, caption=text)
    if picture.kind == "video":
        return InlineQueryResultCachedVideo(result_id, picture.file_id, title, caption=text)
    if picture.kind == "animation":
        return InlineQueryResultCachedGif(result_id, picture.file_id, caption=text)
    if picture.kind == "sticker":
        return InlineQueryResultCachedSticker(result_id, picture.file_id)
    if picture.kind == "video_note":
        return None
    return InlineQueryResultCachedDocument(result_id, title, picture.file_id, caption=text)


def _more_button(texts: Texts, key: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(texts.more_button, callback_data=MORE_PREFIX + key)]]
    )


def groups_keyboard(
    texts: Texts, titles: Mapping[int, str], chosen: int | None
) -> InlineKeyboardMarkup:
    """One button per group and one for all of them; the current choice is ticked."""

    def button(label: str, value: str, ticked: bool) -> list[InlineKeyboardButton]:
        text = f"✓ {label}" if ticked else label
        return [InlineKeyboardButton(text, callback_data=ONLY_PREFIX + value)]

    rows = [button(title, str(chat_id), chat_id == chosen) for chat_id, title in titles.items()]
    rows.append(button(texts.all_groups_button, ALL_GROUPS, chosen not in titles))
    return InlineKeyboardMarkup(rows)


def stats_text(texts: Texts, stats: CollectionStats, poisoned: int, reading_on: bool) -> str:
    """/stats: the collection's numbers, and the updates the bot skipped as poisoned; pictures
    not read for words are "waiting" only while reading is on."""
    unread = texts.words_waiting if reading_on else texts.words_reading_off
    return texts.stats.format(
        poisoned=poisoned,
        images=stats.images,
        reposts=stats.reposts,
        tags=stats.tags,
        pending=stats.pending,
        failed=stats.failed,
        read=stats.readings.read,
        with_words=stats.readings.with_words,
        unread=unread.format(count=stats.readings.unread),
        model=stats.model,
        index_type=stats.index_type,
        vectors=stats.index_vectors,
        size=byte_size(stats.index_bytes),
        last=texts.never if stats.last_indexed_at is None else _datetime(stats.last_indexed_at),
    )


def duration(seconds: float) -> str:
    """Like 42s, 3m05s or 1h02m: short, and the same in every language."""
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def byte_size(size: int) -> str:
    """Like 812 B, 4.2 KiB or 17.0 MiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _date(timestamp: float | None) -> str:
    if timestamp is None:
        return "?"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def _datetime(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
