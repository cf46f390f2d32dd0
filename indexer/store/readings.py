"""Which pictures had their words read (indexer/ocr), and the words kept as their text.

Reading is a background stage after embedding: a picture is searchable by its look as soon as
it is embedded, and by its words once read. A picture without a ``picture_readings`` row, or
whose row has no ``read_at``, is waiting to be read; each attempt is counted before it starts
(so an attempt that ends with the process counts too) and retried after a growing pause,
until ``limits.max_attempts`` attempts failed: then the picture is *unreadable* and only its
look is searched. The words themselves are a text of kind ``'ocr'`` in ``texts``, so the word
index and the text vectors find them as they find captions and tags, and a forget removes them
with the picture's other texts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from indexer.records import PictureToRead, ReadingCounts
from indexer.store.database import LIVE, Database

#: The first pause before a failed reading is tried again; it doubles with every attempt.
_RETRY_PAUSE_SECONDS = 5.0
#: Kinds of rows whose source may be one still picture the recogniser can read.
_READABLE_KINDS = "('photo', 'sticker')"
#: The collection's embedded original still pictures. A sticker or a picture file may be a
#: clip all the same (a video sticker, a GIF sent as a file): embedded by its frames, it has
#: no one picture to read, and reading it would download it again only to count it unreadable.
_EMBEDDED = (
    f"images.status = 'indexed' AND {LIVE} AND images.kind IN {_READABLE_KINDS} "
    "AND NOT EXISTS (SELECT 1 FROM clip_frames WHERE clip_frames.image_id = images.id)"
)


class Readings:
    """The ``picture_readings`` table and the ``'ocr'`` texts it leads to."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def unread(
        self, schemes: Sequence[str], limit: int, max_attempts: int, *, after: int = 0
    ) -> list[PictureToRead]:
        """Embedded pictures not read yet whose source one of ``schemes`` fetches and whose
        retry pause is over, oldest first; only those with an id above ``after``.

        The rows already read are walked through to find these: a reader that starts each
        look where the last one ended (``after``) walks them once per sweep, not once per
        picture (after the schema 9 upgrade of 300 000 pictures, 90 ms a picture)."""
        if not schemes:
            return []
        names = {f"s{i}": f"{scheme}:%" for i, scheme in enumerate(schemes)}
        rows = await self._db.fetchall(
            "SELECT images.id, images.collection_id, images.source, "
            "coalesce(picture_readings.attempts, 0), images.sha256 "
            "FROM images LEFT JOIN picture_readings "
            f"ON picture_readings.image_id = images.id WHERE {_EMBEDDED} "
            "AND picture_readings.read_at IS NULL "
            "AND coalesce(picture_readings.attempts, 0) < :most "
            "AND coalesce(picture_readings.retry_at, 0) <= :now AND images.id > :after "
            f"AND ({' OR '.join(f'images.source LIKE :{name}' for name in names)}) "
            "ORDER BY images.id LIMIT :limit",
            {**names, "most": max_attempts, "now": time.time(), "limit": limit, "after": after},
        )
        return [PictureToRead(int(r[0]), int(r[1]), str(r[2]), int(r[3]), r[4]) for r in rows]

    async def begin(self, picture: PictureToRead) -> None:
        """Counts an attempt before it starts: one that ends with the process is then
        retried after the pause, like one that failed."""
        attempts = picture.attempts + 1
        await self._db.write(
            [
                (
                    # Not for a picture forgotten meanwhile: its record would outlive it.
                    "INSERT INTO picture_readings (image_id, attempts, retry_at) "
                    "SELECT id, ?, ? FROM images WHERE id = ? AND deleted = 0 "
                    "ON CONFLICT (image_id) DO UPDATE SET attempts = excluded.attempts, "
                    "retry_at = excluded.retry_at",
                    (attempts, time.time() + _RETRY_PAUSE_SECONDS * 2**attempts, picture.id),
                )
            ]
        )

    async def abandon(self, picture: PictureToRead) -> None:
        """Takes back the attempt :meth:`begin` counted: the reading was stopped by a shutdown,
        not failed by the picture, so it is tried again at the next start without a pause."""
        await self._db.write(
            [
                (
                    "UPDATE picture_readings SET attempts = ?, retry_at = NULL "
                    "WHERE image_id = ? AND read_at IS NULL",
                    (picture.attempts, picture.id),
                )
            ]
        )

    async def failed(self, image_id: int, error: str, *, give_up_at: int | None = None) -> None:
        """Keeps why the attempt failed; the pause set by :meth:`begin` stands, and so does
        the count, unless ``give_up_at`` (the most attempts) says trying again cannot help."""
        await self._db.write(
            [
                (
                    "UPDATE picture_readings SET error = ?, attempts = max(attempts, ?) "
                    "WHERE image_id = ?",
                    (error, give_up_at or 0, image_id),
                )
            ]
        )

    async def finish(self, image_id: int, words: str, confidence: float) -> bool:
        """Stores the words read in a picture (none: ``words`` empty) and marks it read, in one
        transaction; False when the picture was forgotten meanwhile (nothing is stored) or
        another process had read it first (its words stay as they are)."""
        now = time.time()
        statements = []
        if words:
            statements.append(
                (
                    "INSERT INTO texts (image_id, kind, text, folded, confidence, added_at) "
                    "SELECT id, 'ocr', ?, ?, ?, ? FROM images WHERE id = ? AND deleted = 0 "
                    "AND NOT EXISTS (SELECT 1 FROM picture_readings WHERE image_id = ? "
                    "AND read_at IS NOT NULL)",
                    (words, words.casefold(), confidence, now, image_id, image_id),
                )
            )
        statements.append(
            (
                "INSERT INTO picture_readings (image_id, read_at) "
                "SELECT id, ? FROM images WHERE id = ? AND deleted = 0 "
                "ON CONFLICT (image_id) DO UPDATE SET read_at = excluded.read_at, "
                "retry_at = NULL, error = NULL WHERE picture_readings.read_at IS NULL",
                (now, image_id),
            )
        )
        written = await self._db.write(statements)
        return written[-1].changed == 1

    async def words_of(self, image_ids: Sequence[int]) -> dict[int, str]:
        """The words read in each given picture (pictures without words left out)."""
        rows = await self._db.fetchall_by_ids(
            "SELECT image_id, text FROM texts WHERE kind = 'ocr' AND image_id IN (:ids)",
            image_ids,
        )
        return {int(row[0]): str(row[1]) for row in rows}

    async def counts(self, collection_id: int | None, max_attempts: int) -> ReadingCounts:
        """How many of a collection's (None: every collection's) embedded pictures were read,
        carry words, wait, or could not be read."""
        where = _EMBEDDED + ("" if collection_id is None else " AND images.collection_id = ?")
        row = await self._db.fetchone(
            "SELECT count(readings.read_at), "
            "sum(readings.read_at IS NOT NULL AND EXISTS (SELECT 1 FROM texts WHERE "
            "texts.image_id = images.id AND texts.kind = 'ocr')), "
            "sum(readings.read_at IS NULL AND coalesce(readings.attempts, 0) < ?), "
            "sum(readings.read_at IS NULL AND readings.attempts >= ?) "
            "FROM images LEFT JOIN picture_readings AS readings ON readings.image_id = images.id "
            f"WHERE {where}",
            (max_attempts, max_attempts, *(() if collection_id is None else (collection_id,))),
        )
        if row is None:
            return ReadingCounts()
        return ReadingCounts(*(int(value or 0) for value in row))
