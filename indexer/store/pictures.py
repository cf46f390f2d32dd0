"""Reading stored pictures, and forgetting them for good."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from indexer.records import CollectionCounts, Forgotten, ImageRecord, PictureFilter
from indexer.store.database import LIVE, Database, Statement, chunks

_IMAGE_COLUMNS = (
    "images.id, collections.name, source, file_unique_id, sha256, size_bytes, width, height, "
    "poster_id, poster_name, posted_at, message_id, caption, status, error, repost_of, "
    "added_at, indexed_at, kind"
)


#: Merges the word index into one segment. FTS5 deletes a text by writing a marker that lists
#: its trigrams, beside the old segment that holds them, until segments merge: a phone number
#: read in a forgotten screenshot could be read back from the file. (SQLite 3.44's
#: 'secure-delete' option would avoid the merge; the SQLite here is older.) Its cost grows with
#: the index, paid once per forget.
_MERGE_WORD_INDEX = "INSERT INTO texts_trigrams (texts_trigrams) VALUES ('optimize')"


class Pictures:
    """The ``images`` rows of every collection: facts, counts, originals and forgetting."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def images(self, ids: Sequence[int]) -> dict[int, ImageRecord]:
        """The stored facts of the given pictures, by id (missing and forgotten ids are left
        out: a forgotten picture is never shown again, whatever still names its id)."""
        rows = await self._db.fetchall_by_ids(
            f"SELECT {_IMAGE_COLUMNS} FROM images JOIN collections ON collections.id = "
            "images.collection_id WHERE images.deleted = 0 AND images.id IN (:ids)",
            ids,
        )
        return {int(r[0]): ImageRecord(*r) for r in rows}

    async def matching(self, collection_id: int, wanted: PictureFilter) -> list[ImageRecord]:
        """The collection's not-forgotten pictures that pass ``wanted``, oldest first."""
        conditions = ["images.collection_id = :collection", "images.deleted = 0"]
        if wanted.status is not None:
            conditions.append("images.status = :status")
        if wanted.poster is not None:
            conditions.append(
                "(CAST(poster_id AS TEXT) = :poster OR lower(poster_name) = lower(:poster))"
            )
        if wanted.contains is not None:
            conditions.append(
                "(instr(lower(source), lower(:text)) > 0 OR "
                "instr(lower(coalesce(caption, '')), lower(:text)) > 0 OR EXISTS (SELECT 1 "
                "FROM texts WHERE image_id = images.id AND instr(folded, :folded) > 0))"
            )
        rows = await self._db.fetchall(
            f"SELECT {_IMAGE_COLUMNS} FROM images JOIN collections ON collections.id = "
            f"images.collection_id WHERE {' AND '.join(conditions)} ORDER BY images.id "
            "LIMIT :limit",
            {
                "collection": collection_id,
                "status": wanted.status,
                "poster": wanted.poster,
                "text": wanted.contains,
                "folded": (wanted.contains or "").casefold(),
                "limit": wanted.limit,
            },
        )
        return [ImageRecord(*row) for row in rows]

    async def find_original(
        self,
        collection_id: int,
        *,
        file_unique_id: str | None = None,
        sha256: str | None = None,
        other_than: int | None = None,
    ) -> int | None:
        """The live original picture with this Telegram file id or content hash, if any."""
        column, value = ("file_unique_id", file_unique_id) if file_unique_id else ("sha256", sha256)
        if value is None:
            return None
        row = await self._db.fetchone(
            f"SELECT id FROM images WHERE collection_id = ? AND {column} = ? AND {LIVE} "
            "AND id IS NOT ? ORDER BY id LIMIT 1",
            (collection_id, value, other_than),
        )
        return None if row is None else int(row[0])

    async def live_originals(self, collection_id: int, ids: Sequence[int]) -> list[int]:
        """The searchable originals of the given pictures or reposts, without duplicates."""
        rows = await self._db.fetchall_by_ids(
            "SELECT DISTINCT originals.id FROM images AS posts JOIN images AS originals ON "
            "originals.id = coalesce(posts.repost_of, posts.id) WHERE posts.collection_id = ? "
            "AND posts.deleted = 0 AND posts.id IN (:ids) AND "
            "originals.deleted = 0 AND originals.status IN ('pending', 'indexed')",
            ids,
            collection_id,
        )
        return list(dict.fromkeys(int(r[0]) for r in rows))

    async def reindex_targets(self, collection_id: int) -> list[tuple[int, str]]:
        """(id, source) of every indexed original picture of the collection."""
        rows = await self._db.fetchall(
            "SELECT id, source FROM images WHERE collection_id = ? AND status = 'indexed' "
            "AND deleted = 0 AND repost_of IS NULL ORDER BY id",
            (collection_id,),
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def counts(self, collection_id: int, model_id: str) -> CollectionCounts:
        """How many pictures of a collection are in each state."""
        row = await self._db.fetchone(
            "SELECT "
            "sum(deleted = 0 AND status = 'indexed'), sum(deleted = 0 AND status = 'repost'), "
            "sum(deleted = 0 AND status = 'pending'), sum(deleted = 0 AND status = 'failed'), "
            "sum(deleted = 1), max(indexed_at), "
            "sum(deleted = 0 AND status = 'indexed' AND NOT EXISTS (SELECT 1 FROM vectors "
            "WHERE image_id = images.id AND model_id = ?)) "
            "FROM images WHERE collection_id = ?",
            (model_id, collection_id),
        )
        assert row is not None
        return CollectionCounts(
            indexed=int(row[0] or 0),
            reposts=int(row[1] or 0),
            pending=int(row[2] or 0),
            failed=int(row[3] or 0),
            forgotten=int(row[4] or 0),
            without_vector=int(row[6] or 0),
            last_indexed_at=row[5],
        )

    async def ids_of_message(self, collection_id: int, message_id: int) -> list[int]:
        """Ids of the (not forgotten) pictures posted in one message."""
        return await self._ids_where(collection_id, "message_id = ?", message_id)

    async def ids_of_collection(self, collection_id: int) -> list[int]:
        """Ids of every (not forgotten) picture of the collection."""
        return await self._ids_where(collection_id, "1 = ?", 1)

    async def ids_of_source(self, collection_id: int, source: str) -> list[int]:
        """Ids of the (not forgotten) pictures handed over from one source."""
        return await self._ids_where(collection_id, "source = ?", source)

    async def ids_of_poster(self, collection_id: int, poster_id: int) -> list[int]:
        """Ids of the (not forgotten) pictures one person posted in the collection."""
        return await self._ids_where(collection_id, "poster_id = ?", poster_id)

    async def _ids_where(self, collection_id: int, condition: str, value: object) -> list[int]:
        rows = await self._db.fetchall(
            f"SELECT id FROM images WHERE collection_id = ? AND deleted = 0 AND {condition}",
            (collection_id, value),
        )
        return [int(r[0]) for r in rows]

    async def forget(
        self, collection_id: int, ids: Sequence[int], *, author: int | None = None
    ) -> Forgotten:
        """Forgets pictures (and the reposts of each), with their captions and tags; with
        ``author``, also every caption and tag that person added to the collection.

        Nothing of a forgotten post stays but what "a deletion wins" needs: its row keeps the
        chat's collection, the message id, the content hash and an opaque key of its source
        (:func:`forgotten_source`); its caption, poster, file ids and error are erased, and its
        vectors (a clip's frames too), texts (the words read in it too), reading record and
        pending bytes deleted. A repost's caption, kept on the original picture, goes with the
        repost. (With ``PRAGMA secure_delete``, erased bytes are overwritten in the file too:
        :mod:`indexer.store.database`.)
        """
        forgotten: list[tuple[int, str]] = []
        for chunk in chunks(ids, 400):
            marks = ",".join("?" * len(chunk))
            rows = await self._db.fetchall(
                f"SELECT id, source FROM images WHERE collection_id = ? AND deleted = 0 AND "
                f"(id IN ({marks}) OR repost_of IN ({marks}))",
                (collection_id, *chunk, *chunk),
            )
            forgotten += [(int(r[0]), str(r[1])) for r in rows]
        image_ids = [image_id for image_id, _ in forgotten]
        texts = await self._texts_going_with(collection_id, image_ids, author)
        frames = await self._db.fetchall_by_ids(
            "SELECT id FROM clip_frames WHERE image_id IN (:ids)", image_ids
        )
        statements: list[Statement] = [
            (_ERASE_POST, (forgotten_source(source), image_id)) for image_id, source in forgotten
        ]
        for chunk in chunks(image_ids, 500):
            marks = ",".join("?" * len(chunk))
            statements += [
                (f"DELETE FROM vectors WHERE image_id IN ({marks})", tuple(chunk)),
                (f"DELETE FROM clip_frames WHERE image_id IN ({marks})", tuple(chunk)),
                (f"DELETE FROM pending_data WHERE image_id IN ({marks})", tuple(chunk)),
                (f"DELETE FROM picture_readings WHERE image_id IN ({marks})", tuple(chunk)),
            ]
        for chunk in chunks(texts, 500):
            marks = ",".join("?" * len(chunk))
            statements += [
                (f"DELETE FROM text_vectors WHERE text_id IN ({marks})", tuple(chunk)),
                (f"DELETE FROM texts WHERE id IN ({marks})", tuple(chunk)),
            ]
        if texts:
            statements.append((_MERGE_WORD_INDEX, ()))
        await self._db.write(statements)
        await self._db.erase_history()
        return Forgotten(images=image_ids, texts=texts, frames=[int(r[0]) for r in frames])

    async def _texts_going_with(
        self, collection_id: int, image_ids: Sequence[int], author: int | None
    ) -> list[int]:
        """The texts of the pictures, the captions their reposts put on the originals, and
        (with ``author``) every text that person added to the collection."""
        texts: list[int] = []
        for chunk in chunks(image_ids, 500):
            marks = ",".join("?" * len(chunk))
            rows = await self._db.fetchall(
                f"SELECT texts.id FROM texts WHERE image_id IN ({marks}) UNION "
                "SELECT texts.id FROM texts JOIN images AS reposts ON "
                "texts.image_id = reposts.repost_of AND texts.kind = 'caption' AND "
                "texts.added_by IS reposts.poster_id AND "
                "texts.text = trim(reposts.caption, ' ' || char(9, 10, 13)) "
                f"WHERE reposts.id IN ({marks})",
                (*chunk, *chunk),
            )
            texts += [int(r[0]) for r in rows]
        if author is not None:
            rows = await self._db.fetchall(
                "SELECT texts.id FROM texts JOIN images ON images.id = texts.image_id "
                "WHERE images.collection_id = ? AND texts.added_by = ?",
                (collection_id, author),
            )
            texts += [int(r[0]) for r in rows]
        return sorted(set(texts))


#: What a forgotten post keeps: its collection, message id, content hash and times, and an
#: opaque key of its source, so the same post met again (a redelivered update, the same file on
#: the next ``index`` run) is known as forgotten (:meth:`Queue.known_post`).
_ERASE_POST = (
    "UPDATE images SET deleted = 1, source = ?, file_unique_id = NULL, poster_id = NULL, "
    "poster_name = NULL, poster_username = NULL, caption = NULL, error = NULL WHERE id = ?"
)


def forgotten_source(source: str) -> str:
    """The opaque key a forgotten post keeps of its source (a file path, a Telegram file id)."""
    return "forgotten:" + hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
