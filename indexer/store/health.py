"""Checking the database itself: SQLite's own integrity check, the word index of captions and
tags, and rows nothing refers to."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from indexer.store.database import Database

_FORGOTTEN_TEXTS = "image_id NOT IN (SELECT id FROM images WHERE deleted = 0)"

#: Rows that belong to nothing searchable (the rows that select them), by what they are.
#: None of them can ever be shown; they only take space. In the order they can be deleted
#: (a text's vectors before the text).
_ORPHANS: dict[str, str] = {
    "queued bytes of pictures that are not queued": "pending_data WHERE image_id NOT IN "
    "(SELECT id FROM images WHERE status = 'pending' AND deleted = 0)",
    "vectors of forgotten or missing pictures": "vectors WHERE image_id NOT IN "
    "(SELECT id FROM images WHERE deleted = 0)",
    "vectors of captions and tags that are gone": "text_vectors WHERE text_id NOT IN "
    f"(SELECT id FROM texts WHERE NOT ({_FORGOTTEN_TEXTS}))",
    "captions and tags of forgotten or missing pictures": f"texts WHERE {_FORGOTTEN_TEXTS}",
}


#: FTS5's own check of the trigram index against the texts it indexes (``rank`` 1 compares it
#: with the content table). SQLite's ``integrity_check`` does not look inside FTS5 before 3.44.
_CHECK_WORD_INDEX = (
    "INSERT INTO texts_trigrams (texts_trigrams, rank) VALUES ('integrity-check', 1)"
)
_REBUILD_WORD_INDEX = "INSERT INTO texts_trigrams (texts_trigrams) VALUES ('rebuild')"


@dataclass(frozen=True)
class Orphans:
    """How many rows of each kind refer to nothing searchable."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Health:
    """Read-only checks of the database, and the repairs that need no model: rebuilding the
    word index, deleting orphans."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def integrity_problems(self) -> list[str]:
        """What SQLite's ``integrity_check`` reports; empty when the file is sound."""
        rows = await self._db.fetchall("PRAGMA integrity_check")
        problems = [str(row[0]) for row in rows]
        return [] if problems == ["ok"] else problems

    async def word_index_sound(self) -> bool:
        """Whether the trigram index of captions and tags holds exactly their words; when it
        does not, a caption can be missed (or a picture matched by words it no longer has)."""
        try:
            await self._db.write([(_CHECK_WORD_INDEX, ())])
        except sqlite3.DatabaseError as error:
            # Only FTS5's "malformed" answers the question; a busy or unreadable file does not.
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_CORRUPT:
                raise
            return False
        return True

    async def rebuild_word_index(self) -> None:
        """Builds the trigram index again from the texts (they are the truth it indexes)."""
        await self._db.write([(_REBUILD_WORD_INDEX, ())])

    async def orphans(self) -> Orphans:
        counts = {}
        for what, rows in _ORPHANS.items():
            row = await self._db.fetchone(f"SELECT count(*) FROM {rows}")
            counts[what] = int(row[0]) if row else 0
        return Orphans(counts)

    async def delete_orphans(self) -> None:
        """Deletes every orphan, in one transaction."""
        await self._db.write((f"DELETE FROM {rows}", ()) for rows in _ORPHANS.values())
