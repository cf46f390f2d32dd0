"""Answering a query inside named collections: picture vectors, captions and tags, fused.

A text query is matched against the pictures' own vectors and against their captions, tags and
the words read in them (by vector, and by words in any case); pictures scoring below a
configured text↔picture floor are left out, and the two rankings are fused
(:mod:`indexer.search.fusion`). A picture query is matched against the pictures' vectors only,
or together with words as one vector ("like this one, but at sunset",
:func:`~indexer.search.fusion.composed_query`). A clip is scored by its best frame.

Filters (``from:``, ``after:``, ``kind:``…, :mod:`indexer.search.filters`) are applied before
ranking: SQLite names the pictures that pass them (:mod:`indexer.store.selection`) and the
vector index ranks only those, so a page holds ``k`` pictures whenever ``k`` pass.
Searches only ever look inside the collections they are given.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import replace

import numpy as np

from indexer.config import SearchConfig
from indexer.errors import BadQueryError, UnknownPosterError
from indexer.parts import Parts
from indexer.records import (
    PICTURE_VECTORS,
    TEXT_VECTORS,
    ImageRecord,
    ImageText,
    PictureQuery,
    SearchFilters,
    SearchHit,
    Thresholds,
)
from indexer.search.fusion import composed_query, expand_query, reciprocal_rank_fusion
from indexer.search.snippets import words_around
from indexer.text_cleaning import clean_text
from indexer.vectors.backend import VectorBackend

log = logging.getLogger(__name__)

#: A search that every picture may answer.
NO_FILTERS = SearchFilters()


def checked_text(text: str, what: str, limit: int) -> str:
    """``text`` cleaned (:func:`clean_text`) and stripped, or a BadQueryError saying why it
    cannot be used."""
    text = clean_text(text).strip()
    if not text:
        raise BadQueryError(f"the {what} is empty: describe the picture in words")
    if len(text) > limit:
        raise BadQueryError(f"the {what} is too long ({len(text):,} characters, at most {limit:,})")
    return text


class Searcher:
    """Ranks the pictures of given collections against a text or a picture."""

    def __init__(self, settings: SearchConfig, engine: Parts) -> None:
        self._settings = settings
        self._engine = engine
        #: The similarity thresholds in force (indexer/model/calibration.py), set by the service
        #: once the model's calibration is known; until then only the configured values apply.
        self.thresholds: Thresholds | None = None

    @property
    def text_match_min(self) -> float:
        """A caption or tag matches a query by meaning at this cosine or above (unknown yet:
        only words match)."""
        if self.thresholds is not None:
            return self.thresholds.text_match_min
        configured = self._settings.text_match_min
        return 1.01 if configured is None else configured

    @property
    def picture_match_min(self) -> float:
        """A picture answers a description only at this cosine or above (-1: every one does,
        as when no floor is configured, or the calibrated one is not known yet)."""
        floor = self.thresholds.picture_match_min if self.thresholds is not None else None
        return -1.0 if floor is None else floor

    async def by_text(
        self,
        collection_ids: Sequence[int],
        query: str,
        k: int,
        offset: int,
        filters: SearchFilters = NO_FILTERS,
    ) -> list[SearchHit]:
        """Best matches of a (checked) description, best first: pictures whose caption or tag
        matches it, then pictures like those, or, when no caption or tag matches, pictures whose
        own vector scores at least :attr:`picture_match_min` (-1 unless configured).

        Only pictures passing ``filters`` are ranked (:meth:`_among`); ``filters.newest``
        orders the best ``search.newest_among`` of them newest first. With debug logging on
        (the CLI's ``-v``) it logs where the query's milliseconds went.
        """
        started = time.perf_counter()
        among = await self._among(collection_ids, filters)
        vector = await self._engine.pipeline.embed_texts([query])
        embedded = time.perf_counter()
        depth = self._depth(k, offset, filters)
        texts = _only(await self._matching_texts(collection_ids, query, vector, depth), among)
        matched = time.perf_counter()
        matched_ids = list(texts)
        examples = await self._engine.store.vectors.vectors_by_ids(
            matched_ids, self._engine.model_id, PICTURE_VECTORS
        )
        expanded = expand_query(vector, np.array(list(examples.values()), np.float32))
        # Anchored on pictures whose caption or tag matched, the ranking is "pictures like
        # those", not a text-picture cosine: the text-picture floor does not apply to it.
        floor = self.picture_match_min if not examples else -1.0
        ranked_pictures, moments = await self._by_best_frame(
            collection_ids,
            await self._ranked(
                self._engine.pictures, collection_ids, expanded, depth + len(texts), among
            ),
            expanded,
            among,
        )
        pictures = [(score, image_id) for score, image_id in ranked_pictures if score >= floor]
        picture_scores = {image_id: score for score, image_id in pictures}
        order = reciprocal_rank_fusion(
            [matched_ids, [image_id for _, image_id in pictures]],
            self._settings.rank_fusion_k,
        )[:depth]
        ranked = time.perf_counter()
        records = await self._engine.store.pictures.images(order)
        order = _page(order, records, k, offset, self._newest(filters))
        log.debug(
            "text query: %.1f ms embedding the text (and the filters), %.1f ms captions and tags, "
            "%.1f ms pictures and fusion, %.1f ms reading the results",
            *(
                1000 * (b - a)
                for a, b in itertools.pairwise(
                    (started, embedded, matched, ranked, time.perf_counter())
                )
            ),
        )
        return [
            _text_hit(texts[i], records[i], query, moments.get(i))
            if i in texts
            else SearchHit(picture_scores[i], records[i], moment=moments.get(i))
            for i in order
        ]

    async def by_date(
        self, collection_ids: Sequence[int], filters: SearchFilters, k: int, offset: int
    ) -> list[SearchHit]:
        """A query of filters alone: the pictures passing them, most recently posted first."""
        posters = await self._posters(collection_ids, filters)
        dated: list[tuple[float | None, int]] = []
        for collection_id in collection_ids:
            if posters is None or posters[collection_id]:
                dated += await self._engine.store.selection.newest(
                    collection_id,
                    filters,
                    None if posters is None else posters[collection_id],
                    k + offset,
                )
        dated.sort(key=lambda pair: (pair[0] is None, -(pair[0] or 0.0), -pair[1]))
        order = [image_id for _, image_id in dated[offset : offset + k]]
        records = await self._engine.store.pictures.images(order)
        return [SearchHit(0.0, records[i], by_date=True) for i in order if i in records]

    async def picture_query(self, data: bytes) -> PictureQuery:
        """Embeds a query picture; raises BadImageError for unusable bytes."""
        vector = await self._engine.pipeline.embed_query_image(data)
        return PictureQuery(vector, hashlib.sha256(data).hexdigest())

    async def composed(self, picture: PictureQuery, words: str) -> PictureQuery:
        """A picture and (checked) words as one query: "like this one, but …"
        (:func:`composed_query`); the picture itself stays left out of its results."""
        vector = await self._engine.pipeline.embed_texts([words])
        weight = self._settings.composed_text_weight
        return replace(picture, vector=composed_query(picture.vector, vector, weight))

    async def by_image(
        self,
        collection_ids: Sequence[int],
        picture: PictureQuery,
        k: int,
        offset: int,
        include_self: bool = False,
        filters: SearchFilters = NO_FILTERS,
    ) -> list[SearchHit]:
        """Pictures most similar to a picture, best first (newest first with
        ``filters.newest``), only among those passing ``filters``, leaving out the same bytes
        unless ``include_self``."""
        among = await self._among(collection_ids, filters)
        ranked, moments = await self._by_best_frame(
            collection_ids,
            await self._ranked(
                self._engine.pictures,
                collection_ids,
                picture.vector,
                self._depth(k, offset, filters) + 1,
                among,
            ),
            picture.vector,
            among,
        )
        records = await self._engine.store.pictures.images([image_id for _, image_id in ranked])
        scores = {
            image_id: score
            for score, image_id in ranked
            if image_id in records and (include_self or records[image_id].sha256 != picture.sha256)
        }
        return [
            SearchHit(scores[i], records[i], moment=moments.get(i))
            for i in _page(list(scores), records, k, offset, self._newest(filters))
        ]

    def _newest(self, filters: SearchFilters) -> int:
        """How many of the best matches ``sort:new`` dates at a time (0: no ``sort:new``)."""
        return self._settings.newest_among if filters.newest else 0

    def _depth(self, k: int, offset: int, filters: SearchFilters) -> int:
        """How many of the best matches to rank: the page and those before it, or with
        ``sort:new`` the whole blocks of ``search.newest_among`` best holding them, which are
        then dated block by block (:func:`_page`)."""
        if filters.newest:
            block = self._settings.newest_among
            return -(-(k + offset) // block) * block
        return k + offset

    async def _posters(
        self, collection_ids: Sequence[int], filters: SearchFilters
    ) -> dict[int, list[int]] | None:
        """Per collection, the ids of the posters ``filters.posters`` mean (None: no ``from:``).

        Raises UnknownPosterError for a name that means nobody in any of the collections: a
        hint, not an empty result.
        """
        if not filters.posters:
            return None
        found: dict[str, set[int]] = {name: set() for name in filters.posters}
        posters: dict[int, list[int]] = {}
        for collection_id in collection_ids:
            named = await self._engine.store.selection.posters_named(collection_id, filters.posters)
            for name, ids in named.items():
                found[name] |= ids
            posters[collection_id] = sorted(set().union(*named.values()))
        unknown = [name for name, ids in found.items() if not ids]
        if unknown:
            raise UnknownPosterError(unknown[0])
        return posters

    async def _among(
        self, collection_ids: Sequence[int], filters: SearchFilters
    ) -> dict[int, np.ndarray] | None:
        """Per collection, the ids of the pictures passing ``filters``, read from SQLite before
        anything is ranked (None when they narrow nothing)."""
        if not filters.narrows:
            return None
        posters = await self._posters(collection_ids, filters)
        among: dict[int, np.ndarray] = {}
        for collection_id in collection_ids:
            if posters is not None and not posters[collection_id]:
                among[collection_id] = np.zeros(0, np.int64)
                continue
            among[collection_id] = await self._engine.store.selection.candidates(
                collection_id, filters, None if posters is None else posters[collection_id]
            )
        return among

    async def _by_best_frame(
        self,
        collection_ids: Sequence[int],
        ranked: list[tuple[float, int]],
        vector: np.ndarray,
        among: dict[int, np.ndarray] | None = None,
    ) -> tuple[list[tuple[float, int]], dict[int, float]]:
        """``ranked`` and the clips of the best frames, each once, every clip scored by its best
        frame, best first; and by clip id the moment (seconds) that frame shows.

        The picture index holds one vector per clip (the mean of its frames); the frame index
        holds every frame, so a clip whose subject fills one second of eight is a candidate
        too. The frames of the candidate clips, read from SQLite, say how well and where each
        matches. A collection without clips searches an empty frame index: no cost to speak of.
        """
        depth = len(ranked)  # fewer than asked for: every picture is among them already
        frame_hits = await self._ranked(self._engine.frames, collection_ids, vector, depth)
        clip_of = _passing(
            await self._engine.store.vectors.clips_of_frames([i for _, i in frame_hits]), among
        )
        ranked = list(ranked)
        known = {image_id for _, image_id in ranked}
        for score, frame_id in frame_hits:
            clip_id = clip_of.get(frame_id)
            if clip_id is not None and clip_id not in known:
                known.add(clip_id)
                ranked.append((score, clip_id))
        frames = await self._engine.store.vectors.frames(list(known), self._engine.model_id)
        moments: dict[int, float] = {}
        rescored: list[tuple[float, int]] = []
        for score, image_id in ranked:
            if image_id in frames:
                seconds, vectors = frames[image_id]
                scores = vectors @ vector[0]
                best = int(np.argmax(scores))
                moments[image_id] = seconds[best]
                score = max(score, float(scores[best]))
            rescored.append((score, image_id))
        rescored.sort(key=lambda pair: -pair[0])
        return rescored, moments

    async def _ranked(
        self,
        indexes: VectorBackend,
        collection_ids: Sequence[int],
        vector: np.ndarray,
        depth: int,
        among: dict[int, np.ndarray] | None = None,
    ) -> list[tuple[float, int]]:
        """The ``depth`` best (score, id) over several collections' indexes, best first; with
        ``among``, only those ids of each collection are ranked."""
        scored: list[tuple[float, int]] = []
        for collection_id in collection_ids if depth else ():
            allowed = None if among is None else among[collection_id]
            if allowed is not None and not len(allowed):
                continue
            scores, ids = await indexes.search(collection_id, vector, depth, allowed)
            scored += [(float(s), int(i)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
        scored.sort(key=lambda pair: -pair[0])
        return scored[:depth]

    async def _matching_texts(
        self, collection_ids: Sequence[int], query: str, vector: np.ndarray, depth: int
    ) -> dict[int, tuple[float, ImageText]]:
        """Pictures whose caption, tag or words match the query: id → (score, text), best
        first.

        A text matches when one contains the other (any case), or when their vectors are at
        least :attr:`text_match_min` alike. The score is the cosine of the two vectors;
        texts not embedded yet do not match.
        """
        ranked = await self._ranked(self._engine.texts, collection_ids, vector, depth)
        semantic = [i for score, i in ranked if score >= self.text_match_min]
        lexical = await self._engine.store.texts.containing(collection_ids, query, depth)
        texts = await self._engine.store.texts.by_ids(semantic)
        texts.update((text.id, text) for text in lexical)
        vectors = await self._engine.store.vectors.vectors_by_ids(
            list(texts), self._engine.model_id, TEXT_VECTORS
        )
        scored = sorted(
            ((float(vectors[i] @ vector[0]), texts[i]) for i in texts if i in vectors),
            key=lambda pair: -pair[0],
        )
        matches: dict[int, tuple[float, ImageText]] = {}
        for score, text in scored:
            matches.setdefault(text.image_id, (score, text))
        return matches


def _text_hit(
    match: tuple[float, ImageText], image: ImageRecord, query: str, moment: float | None
) -> SearchHit:
    """A hit through its text; words read in the picture are cut short around the match, and a
    clip keeps the moment of its best frame."""
    score, text = match
    shown = words_around(text.text, query) if text.kind == "ocr" else text.text
    return SearchHit(score, image, shown, matched_kind=text.kind, moment=moment)


def _only(
    texts: dict[int, tuple[float, ImageText]], among: dict[int, np.ndarray] | None
) -> dict[int, tuple[float, ImageText]]:
    """The caption and tag matches of pictures that pass the filters (all without any)."""
    passing = _passing_pictures(texts, among)
    return {i: match for i, match in texts.items() if passing is None or i in passing}


def _passing(clip_of: dict[int, int], among: dict[int, np.ndarray] | None) -> dict[int, int]:
    """Frame id → clip id for the clips that pass the filters (all without any): a frame
    index holds frame ids, so the filters' picture ids are applied once frames are clips."""
    passing = _passing_pictures(clip_of.values(), among)
    return {frame: clip for frame, clip in clip_of.items() if passing is None or clip in passing}


def _passing_pictures(
    image_ids: Collection[int], among: dict[int, np.ndarray] | None
) -> set[int] | None:
    """Those of ``image_ids`` that pass the filters, or None when there are none."""
    if among is None or not image_ids:
        return None
    ids = np.fromiter(image_ids, dtype=np.int64, count=len(image_ids))
    return set(ids[np.isin(ids, np.concatenate(list(among.values())))].tolist())


def _page(
    order: list[int], records: dict[int, ImageRecord], k: int, offset: int, newest: int
) -> list[int]:
    """The ``k`` ids after ``offset`` of those still stored, in rank order or, with
    ``newest`` (``search.newest_among``; 0: off), most recently posted first within each block
    of that many (pictures without a date last)."""
    kept = [i for i in order if i in records]
    if newest:
        # Sorted by date in blocks of ``newest_among``, each block the same on every page: the
        # whole ranked list sorted at once changed with its depth, so More pages repeated
        # pictures and skipped others once past the first block.
        kept = [
            i
            for start in range(0, len(kept), newest)
            for i in sorted(
                kept[start : start + newest],
                key=lambda i: (records[i].posted_at is None, -(records[i].posted_at or 0.0)),
            )
        ]
    return kept[offset : offset + k]
