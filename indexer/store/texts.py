"""Captions, tags and the words read in pictures: searchable words beside each picture's pixels."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import aiosqlite

from indexer.records import ImageText
from indexer.store.database import LIVE, Database
from indexer.store.word_match import word_spans

_TEXT_COLUMNS = "texts.id, texts.image_id, images.collection_id, texts.kind, texts.text"
#: The trigram index finds texts containing a query of at least this many characters.
_TRIGRAM = 3
#: A query with more word spans than this (a long one in an unspaced script) is matched
#: against the stored texts by reading them.
_MOST_SPANS = 5000


class Texts:
    """The ``texts`` table (their vectors are in :class:`~indexer.store.vectors.Vectors`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_tag(
        self, collection_id: int, image_id: int, text: str, added_by: int | None
    ) -> ImageText:
        """Records a tag a person gave a picture."""
        [written] = await self._db.write(
            [
                (
                    "INSERT INTO texts (image_id, kind, text, folded, added_by, added_at) "
                    "VALUES (?, 'tag', ?, ?, ?, ?)",
                    (image_id, text, text.casefold(), added_by, time.time()),
                )
            ]
        )
        assert written.rowid is not None
        return ImageText(written.rowid, image_id, collection_id, "tag", text)

    async def without_vector(self, model_id: str, limit: int) -> list[ImageText]:
        """Captions and tags of searchable pictures that ``model_id`` has not embedded yet."""
        rows = await self._db.fetchall(
            f"SELECT {_TEXT_COLUMNS} FROM texts JOIN images ON images.id = "
            f"texts.image_id WHERE {LIVE} AND NOT EXISTS (SELECT 1 FROM text_vectors "
            "WHERE text_id = texts.id AND model_id = ?) ORDER BY texts.id LIMIT ?",
            (model_id, limit),
        )
        return [_image_text(row) for row in rows]

    async def by_ids(self, text_ids: Sequence[int]) -> dict[int, ImageText]:
        """Captions and tags by id (missing ids are left out)."""
        rows = await self._db.fetchall_by_ids(
            f"SELECT {_TEXT_COLUMNS} FROM texts JOIN images ON images.id = texts.image_id "
            "WHERE texts.id IN (:ids)",
            text_ids,
        )
        return {int(row[0]): _image_text(row) for row in rows}

    async def containing(
        self, collection_ids: Sequence[int], query: str, limit: int
    ) -> list[ImageText]:
        """Captions, tags and words read in pictures that contain the query, or that the query
        contains (any case).

        The contained side must be at least two characters and whole words (see
        :mod:`indexer.store.word_match`), so a short tag does not match every query. Words read
        in a picture contain a query of three characters or more wherever it occurs: the
        recogniser often loses the space between two words (a JPEG's artifacts, tight letter
        spacing: "RE16 TGK" read as "RE16TGK"), and "RE16" must still find the plate. Both
        directions use an index, so the cost does not grow with the number of captions: texts that
        contain the query through the trigram index (queries of three characters or more),
        texts the query contains by looking up each of the query's word spans. A two-character
        query, or one with too many word spans, reads the collections' texts instead.
        """
        folded = query.casefold()
        names = {f"c{i}": collection_id for i, collection_id in enumerate(collection_ids)}
        where = f"images.collection_id IN ({','.join(':' + name for name in names)}) AND {LIVE}"
        params = {**names, "query": folded, "limit": limit}
        # (FROM, WHERE) of each direction. CROSS JOIN makes the index lookup drive the query,
        # whatever the planner's statistics say (without them it would read the collection).
        if len(folded) >= _TRIGRAM:
            params["phrase"] = '"' + folded.replace('"', '""') + '"'
            inside = (
                "texts_trigrams CROSS JOIN texts ON texts.id = texts_trigrams.rowid",
                "texts_trigrams MATCH :phrase "
                "AND (texts.kind = 'ocr' OR contains_words(texts.folded, :query))",
            )
        else:
            inside = (
                "texts",
                "length(:query) >= 2 AND instr(texts.folded, :query) > 0 "
                "AND contains_words(texts.folded, :query)",
            )
        spans = word_spans(folded, _MOST_SPANS)
        if spans is not None:
            params["spans"] = json.dumps(sorted(spans), ensure_ascii=False)
            around = (
                "json_each(:spans) AS span CROSS JOIN texts ON texts.folded = span.value",
                "1",
            )
        else:
            around = (
                "texts",
                "length(texts.folded) >= 2 AND instr(:query, texts.folded) > 0 "
                "AND contains_words(:query, texts.folded)",
            )
        found: dict[int, aiosqlite.Row] = {}
        for source, condition in (inside, around):
            rows = await self._db.fetchall(
                f"SELECT {_TEXT_COLUMNS} FROM {source} JOIN images ON images.id = texts.image_id "
                f"WHERE {condition} AND {where} ORDER BY texts.id LIMIT :limit",
                params,
            )
            found.update((int(row[0]), row) for row in rows)
        return [_image_text(found[text_id]) for text_id in sorted(found)[:limit]]

    async def pairs(self, collection_id: int) -> list[tuple[str, str]]:
        """(source, caption or tag) of the collection's indexed pictures, oldest first.

        Words read in a picture are left out: they say what is written on it, not what it
        shows, so they would teach the model to describe a sign by its letters."""
        rows = await self._db.fetchall(
            "SELECT images.source, texts.text FROM texts JOIN images ON images.id = "
            f"texts.image_id WHERE images.collection_id = ? AND {LIVE} AND status = 'indexed' "
            "AND texts.kind != 'ocr' ORDER BY texts.id",
            (collection_id,),
        )
        return [(str(row[0]), str(row[1])) for row in rows]

    async def tags_of(self, image_ids: Sequence[int]) -> dict[int, list[str]]:
        """The tags of each given picture, oldest first (pictures without tags left out)."""
        rows = await self._db.fetchall_by_ids(
            "SELECT image_id, text FROM texts WHERE kind = 'tag' AND image_id IN (:ids) "
            "ORDER BY id",
            image_ids,
        )
        tags: dict[int, list[str]] = {}
        for row in rows:
            tags.setdefault(int(row[0]), []).append(str(row[1]))
        return tags

    async def count_tags(self, collection_id: int) -> int:
        """Tags given to the collection's searchable pictures."""
        row = await self._db.fetchone(
            "SELECT count(*) FROM texts JOIN images ON images.id = texts.image_id "
            f"WHERE collection_id = ? AND texts.kind = 'tag' AND {LIVE}",
            (collection_id,),
        )
        return int(row[0]) if row else 0


def _image_text(row: aiosqlite.Row) -> ImageText:
    return ImageText(int(row[0]), int(row[1]), int(row[2]), row[3], str(row[4]))
