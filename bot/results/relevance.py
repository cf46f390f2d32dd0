"""Turning a person's query into pages of results: which hits are relevant, and which are next.

Relevance is relative: a hit is kept when it scores at least ``best − score_margin`` (and at
least ``min_score``), where *best* is the top score of the whole search. Hits found through a
caption or tag (``matched_text``) are always kept, and the margin is measured from the best
hit found by its pixels, because tag scores are text–text cosines on another scale. CLIP's absolute
cosine scores differ between models and between text and picture queries (a good text match
may score 0.3, a good picture match 0.9), but a hit far below the best one is reliably a worse
kind of match, so a margin below the best adapts to both. ``min_score`` (unset by default)
can additionally drop everything when even the best hit is poor.

Pages never repeat a picture: each page is the next ``size`` relevant hits not yet shown,
searched afresh, so pictures added or forgotten between pages shift nothing already seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.chats import collection_of
from indexer.records import PictureQuery, SearchFilters, SearchHit
from indexer.service import IndexService


@dataclass(frozen=True)
class Query:
    """What a person asked and the groups it searches: words, or a picture (embedded, with
    any words already in its vector), and the filters (``from:``, ``after:``…) read once, so
    every page keeps them (``last:7d`` counts back from the first page).

    ``asked`` is the text as typed, which an inline query's next page must repeat.
    """

    groups: tuple[int, ...]
    text: str | None = None
    picture: PictureQuery | None = None
    filters: SearchFilters = field(default_factory=SearchFilters)
    asked: str | None = None

    @property
    def size_bytes(self) -> int:
        """Roughly what keeping it costs in memory (the picture as its vector only)."""
        text = len((self.text or "").encode()) + len((self.asked or "").encode())
        posters = sum(len(name.encode()) + 50 for name in self.filters.posters)
        vector = self.picture.vector.nbytes + 64 if self.picture is not None else 0
        return text + posters + vector + 8 * len(self.groups)


@dataclass(frozen=True)
class Relevance:
    """Which hits of a search are worth showing (see the module's docstring)."""

    score_margin: float
    min_score: float | None

    def keep(self, hits: Sequence[SearchHit]) -> list[SearchHit]:
        """Caption and tag matches, and the hits scoring close enough to the best one (which
        need not come first: ``sort:new`` orders them by date); pictures listed by date alone
        (filters without words) are all kept."""
        by_pixels = [hit for hit in hits if hit.matched_text is None and not hit.by_date]
        if not by_pixels:
            return list(hits)
        floor = max(hit.score for hit in by_pixels) - self.score_margin
        if self.min_score is not None:
            floor = max(floor, self.min_score)
        return [hit for hit in hits if hit.matched_text is not None or hit.score >= floor]


@dataclass(frozen=True)
class Page:
    """One page of results and what has been shown up to and including it."""

    hits: list[SearchHit]
    first_rank: int
    has_more: bool
    seen: frozenset[int]


async def next_page(
    service: IndexService,
    query: Query,
    relevance: Relevance,
    size: int,
    seen: frozenset[int] = frozenset(),
) -> Page:
    """The next ``size`` relevant pictures not in ``seen``.

    Raises the indexer's errors a person can cause (BadQueryError, UnknownCollectionError
    when none of the groups has pictures yet, UnknownPosterError for a ``from:`` that names
    nobody there).
    """
    collections = [collection_of(chat_id) for chat_id in query.groups]
    wanted = len(seen) + size + 1
    if query.picture is not None:
        hits = await service.search_image(
            collections, query.picture, k=wanted, filters=query.filters
        )
    else:
        hits = await service.search_text(
            collections, query.text or "", k=wanted, filters=query.filters
        )
    fresh = [hit for hit in relevance.keep(hits) if hit.image.id not in seen]
    page = fresh[:size]
    return Page(
        hits=page,
        first_rank=len(seen) + 1,
        has_more=len(fresh) > size,
        seen=seen | {hit.image.id for hit in page},
    )
