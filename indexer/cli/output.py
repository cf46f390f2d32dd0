"""What the command line prints: search results, listings and collection statistics."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from indexer.records import CollectionStats, ImageRecord, ListedPicture, SearchHit

#: How much of the words read in a picture a listing shows.
LISTED_WORDS_CHARS = 80


def one_line(text: str, most: int) -> str:
    """Lines joined by " / ", cut to ``most`` characters with an ellipsis."""
    flat = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    return flat if len(flat) <= most else flat[: most - 1] + "…"


def print_hits(hits: list[SearchHit]) -> None:
    """One line per hit, in rank order: rank, what matched and how well, where, id.

    The number is a cosine similarity: of the query to the picture (a clip: to its best frame,
    whose moment follows, ``video 0.412 at 00:12``), or, on a 🏷 line, to the caption or tag
    shown (📝: to the words read in the picture). Ranks come from fusing both kinds
    (:mod:`indexer.search.fusion`), so the numbers of the two kinds are not comparable and need
    not decrease down the list. A query of filters alone lists pictures by date: their lines say
    when and by whom instead.
    """
    if not hits:
        print("no matching pictures")
    for rank, hit in enumerate(hits, 1):
        image = hit.image
        if hit.by_date:
            match = f"posted {_day(image.posted_at)} by {_poster(image)}"
        elif hit.matched_kind == "ocr" and hit.matched_text is not None:
            match = f"📝 {hit.score:.3f} {hit.matched_text!r}"
        elif hit.matched_text is not None:
            match = f"🏷 {hit.score:.3f} {hit.matched_text!r}"
        else:
            match = f"{_kind(image)} {hit.score:.3f}"
        if hit.moment_label is not None:
            match += f" at {hit.moment_label}"
        extras = [f"id {image.id}"]
        if image.caption and image.caption != hit.matched_text:
            extras.append(repr(image.caption))
        print(f"{rank:2d}. {match}  {where_from(image)}  ({', '.join(extras)})")


def where_from(image: ImageRecord) -> str:
    """A local file's path, a Telegram picture's chat and message, or the raw source."""
    if image.source.startswith("file:"):
        return image.source.partition(":")[2]
    if image.message_id is not None:
        return f"chat {image.collection} message {image.message_id}"
    return image.source


def _kind(image: ImageRecord) -> str:
    return "picture" if image.kind == "photo" else image.kind.replace("_", " ")


def _day(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="minutes")


def _poster(image: ImageRecord) -> str:
    if image.poster_name and image.poster_id is not None:
        return f"{image.poster_name} ({image.poster_id})"
    return image.poster_name or ("-" if image.poster_id is None else str(image.poster_id))


def print_listing(pictures: list[ListedPicture]) -> None:
    """Two lines per picture: id, status, kind (of a clip or sticker), source; then poster,
    date, caption and tags."""
    if not pictures:
        print("no pictures match")
    for listed in pictures:
        image = listed.image
        status = image.status
        if image.status == "failed" or (image.status == "pending" and image.error):
            status += f" ({image.error})"
        elif image.status == "repost" and image.repost_of is not None:
            status += f" of {image.repost_of}"
        kind = "" if image.kind == "photo" else f"  {_kind(image)}"
        print(f"{image.id:6d}  {status}{kind}  {where_from(image)}")
        details = [f"by {_poster(image)}", f"posted {_day(image.posted_at)}"]
        if image.caption:
            details.append(f"caption {image.caption!r}")
        if listed.tags:
            details.append("🏷 " + ", ".join(repr(tag) for tag in listed.tags))
        if listed.words:
            details.append(f"📝 {one_line(listed.words, LISTED_WORDS_CHARS)!r}")
        print("        " + "; ".join(details))


def listing_json(listed: ListedPicture) -> dict[str, Any]:
    """One picture of ``list --json``: every stored fact, its tags and where it came from."""
    return {
        **dataclasses.asdict(listed.image),
        "where": where_from(listed.image),
        "tags": listed.tags,
        "words": listed.words,
    }


def print_stats(stats: CollectionStats, reading_on: bool) -> None:
    """A collection's numbers; pictures not read for words are "waiting" only while reading
    is on (``ocr.enabled``)."""
    last = (
        datetime.fromtimestamp(stats.last_indexed_at).isoformat(timespec="seconds")
        if stats.last_indexed_at
        else "never"
    )
    print(f"collection {stats.name}")
    print(
        f"  pictures {stats.images} (+{stats.reposts} reposts), pending {stats.pending}, "
        f"failed {stats.failed}, forgotten {stats.forgotten}"
    )
    print(
        f"  model {stats.model}"
        + (f" ({stats.needs_reindex} pictures need `reindex`)" if stats.needs_reindex else "")
    )
    print(
        f"  index {stats.index_type}, {stats.index_vectors} vectors, "
        f"{stats.index_bytes:,} bytes on disk; last indexed {last}"
    )
    print(f"  thresholds {stats.thresholds.describe()}")
    readings = stats.readings
    print(
        f"  words read in {readings.read} pictures ({readings.with_words} with words), "
        f"{readings.unread} {'waiting' if reading_on else 'not read (ocr.enabled is false)'}, "
        f"{readings.unreadable} unreadable"
    )
