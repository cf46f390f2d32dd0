"""Checking the database itself: SQLite's own integrity check, the word index of captions and
tags, rows nothing refers to, and indexed pictures that lost their vector."""

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
    "frames of forgotten or missing clips": "clip_frames WHERE image_id NOT IN "
    "(SELECT id FROM images WHERE deleted = 0)",
    "vectors of captions and tags that are gone": "text_vectors WHERE text_id NOT IN "
    f"(SELECT id FROM texts WHERE NOT ({_FORGOTTEN_TEXTS}))",
    "captions, tags and words of forgotten or missing pictures": f"texts WHERE {_FORGOTTEN_TEXTS}",
    "reading records of forgotten or missing pictures": "picture_readings WHERE image_id NOT IN "
    "(SELECT id FROM images WHERE deleted = 0)",
}


#: FTS5's own check of the trigram index against the texts it indexes (``rank`` 1 compares it
#: with the content table). SQLite's ``integrity_check`` does not look inside FTS5 before 3.44.
_CHECK_WORD_INDEX = (
    "INSERT INTO texts_trigrams (texts_trigrams, rank) VALUES ('integrity-check', 1)"
)
_REBUILD_WORD_INDEX = "INSERT INTO texts_trigrams (texts_trigrams) VALUES ('rebuild')"

#: A collection's original pictures that claim to be indexed but have no vector of the model
#: (the one parameter after the collection). Reposts have no vector of their own, and forgotten
#: pictures are never shown, so neither is selected.
_INDEXED_WITHOUT_VECTOR = (
    "collection_id = ? AND status = 'indexed' AND deleted = 0 AND repost_of IS NULL AND "
    "NOT EXISTS (SELECT 1 FROM vectors WHERE image_id = images.id AND model_id = ?)"
)
#: Of those, the ones no model has a vector of: every index is rebuilt from the stored vectors,
#: so these can never be found again. (The others wait for ``reindex``, after a model change.)
_LOST = (
    f"{_INDEXED_WITHOUT_VECTOR} AND NOT EXISTS (SELECT 1 FROM vectors WHERE image_id = images.id)"
)


@dataclass(frozen=True)
class MissingVectors:
    """A collection's indexed pictures without a vector of the current model."""

    #: With no vector of any model: damage lost it, and only embedding again brings it back.
    lost: int
    #: With only another model's vectors: ``reindex`` re-embeds them (not damage).
    other_model: int


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

    async def missing_vectors(self, collection_id: int, model_id: str) -> MissingVectors:
        """Counts the collection's indexed pictures that no index of ``model_id`` can hold."""
        row = await self._db.fetchone(
            f"SELECT count(*), sum(NOT EXISTS (SELECT 1 FROM vectors WHERE image_id = images.id)) "
            f"FROM images WHERE {_INDEXED_WITHOUT_VECTOR}",
            (collection_id, model_id),
        )
        total, lost = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
        return MissingVectors(lost=lost, other_model=total - lost)

    async def requeue_lost(self, collection_id: int, model_id: str) -> int:
        """Queues the collection's lost pictures (:attr:`MissingVectors.lost`) for embedding
        again, as new ones are (``pending``, no attempts yet); returns how many.

        Their sources are fetched again: a ``file:`` source is re-read, a Telegram one
        downloaded again by the bot; one that cannot be had any more fails visibly, as any
        picture does. Their bytes are not kept after embedding, so nothing else could help.
        """
        written = await self._db.write(
            [
                (
                    "UPDATE images SET status = 'pending', attempts = 0, retry_at = NULL, "
                    f"error = NULL WHERE {_LOST}",
                    (collection_id, model_id),
                )
            ]
        )
        return int(written[0].changed)
