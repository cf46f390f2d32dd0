"""Reading stored pictures, and forgetting them for good."""

from __future__ import annotations

from collections.abc import Sequence

from indexer.records import CollectionCounts, Forgotten, ImageRecord
from indexer.store.database import LIVE, Database, Statement, chunks

_IMAGE_COLUMNS = (
    "images.id, collections.name, source, file_unique_id, sha256, size_bytes, width, height, "
    "poster_id, poster_name, posted_at, message_id, caption, status, error, repost_of, "
    "added_at, indexed_at"
)


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

    async def forget(self, collection_id: int, ids: Sequence[int]) -> Forgotten:
        """Forgets pictures (and the reposts of each), with their captions and tags.

        Vectors, texts and any pending bytes are deleted, not just hidden: a forgotten picture
        cannot come back in a search or a rebuilt index.
        """
        forgotten: list[int] = []
        for chunk in chunks(ids, 400):
            marks = ",".join("?" * len(chunk))
            rows = await self._db.fetchall(
                f"SELECT id FROM images WHERE collection_id = ? AND deleted = 0 AND "
                f"(id IN ({marks}) OR repost_of IN ({marks}))",
                (collection_id, *chunk, *chunk),
            )
            forgotten += [int(r[0]) for r in rows]
        texts: list[int] = []
        statements: list[Statement] = []
        for chunk in chunks(forgotten, 500):
            marks = ",".join("?" * len(chunk))
            rows = await self._db.fetchall(
                f"SELECT id FROM texts WHERE image_id IN ({marks})", tuple(chunk)
            )
            texts += [int(r[0]) for r in rows]
            statements += [
                (f"UPDATE images SET deleted = 1 WHERE id IN ({marks})", tuple(chunk)),
                (f"DELETE FROM vectors WHERE image_id IN ({marks})", tuple(chunk)),
                (f"DELETE FROM pending_data WHERE image_id IN ({marks})", tuple(chunk)),
                (
                    f"DELETE FROM text_vectors WHERE text_id IN "
                    f"(SELECT id FROM texts WHERE image_id IN ({marks}))",
                    tuple(chunk),
                ),
                (f"DELETE FROM texts WHERE image_id IN ({marks})", tuple(chunk)),
            ]
        await self._db.write(statements)
        return Forgotten(images=forgotten, texts=texts)
