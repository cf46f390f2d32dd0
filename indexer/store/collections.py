"""Collections (named sets of pictures, one per chat in the bot) and who opted out of each."""

from __future__ import annotations

import time

from indexer.store.database import Database


class Collections:
    """The ``collections`` and ``opted_out`` tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def id_of(self, name: str) -> int | None:
        """The id of collection ``name``, or None if it was never created."""
        row = await self._db.fetchone("SELECT id FROM collections WHERE name = ?", (name,))
        return None if row is None else int(row[0])

    async def ensure(self, name: str) -> int:
        """The id of collection ``name``, creating it on first use."""
        existing = await self.id_of(name)
        if existing is not None:
            return existing
        await self._db.write(
            [
                (
                    "INSERT OR IGNORE INTO collections (name, created_at) VALUES (?, ?)",
                    (name, time.time()),
                )
            ]
        )
        created = await self.id_of(name)
        assert created is not None
        return created

    async def rename(self, collection_id: int, name: str) -> None:
        await self._db.write(
            [("UPDATE collections SET name = ? WHERE id = ?", (name, collection_id))]
        )

    async def merge(self, source_id: int, target_id: int) -> None:
        """Moves every picture and opt-out of ``source_id`` into ``target_id``, then drops it."""
        await self._db.write(
            [
                (
                    "UPDATE images SET collection_id = ? WHERE collection_id = ?",
                    (target_id, source_id),
                ),
                (
                    "INSERT OR IGNORE INTO opted_out (collection_id, poster_id) "
                    "SELECT ?, poster_id FROM opted_out WHERE collection_id = ?",
                    (target_id, source_id),
                ),
                ("DELETE FROM opted_out WHERE collection_id = ?", (source_id,)),
                ("DELETE FROM collections WHERE id = ?", (source_id,)),
            ]
        )

    async def all(self) -> dict[str, int]:
        """All collections, name → id."""
        rows = await self._db.fetchall("SELECT name, id FROM collections ORDER BY name")
        return {str(row[0]): int(row[1]) for row in rows}

    async def set_opted_out(self, collection_id: int, poster_id: int, opted_out: bool) -> None:
        """Records whether a person's pictures may be indexed in the collection."""
        sql = (
            "INSERT OR IGNORE INTO opted_out (collection_id, poster_id) VALUES (?, ?)"
            if opted_out
            else "DELETE FROM opted_out WHERE collection_id = ? AND poster_id = ?"
        )
        await self._db.write([(sql, (collection_id, poster_id))])

    async def is_opted_out(self, collection_id: int, poster_id: int) -> bool:
        """Whether the person asked not to have their pictures indexed in the collection."""
        row = await self._db.fetchone(
            "SELECT 1 FROM opted_out WHERE collection_id = ? AND poster_id = ?",
            (collection_id, poster_id),
        )
        return row is not None
