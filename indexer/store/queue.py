"""Pictures entering the index: recorded (acknowledged), queued, then embedded or given up on.

A queued picture is a row of ``images`` with status ``pending``, plus its bytes in
``pending_data`` when the source cannot be fetched again. The worker takes due rows in order
and ends each one as ``indexed`` (with its vector), ``repost`` or ``failed``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Literal

from indexer.records import EmbeddedImage, ImageFacts, ImageStatus, PendingImage
from indexer.store.database import LIVE, Database, Statement, to_blob
from indexer.store.pictures import forgotten_source
from indexer.store.vectors import frame_statements

#: The n-th failed attempt of a picture pauses it for this × 2ⁿ seconds before its next try:
#: 4 s after the first failure, 8 s after the second, and so on.
_RETRY_PAUSE_SECONDS = 2.0
#: A picture is given up on once ``limits.max_attempts`` + this many attempts ended with the
#: process itself (killed, crashed) while it was being worked on. After the first such end it
#: is tried alone, so the pictures that shared its batch are not charged again. The bound is
#: what stops a picture that kills the process (a decompression bomb, the OOM killer) from
#: killing every restart; it is higher than for failed attempts because an operator's kill or
#: a power cut ends an attempt the same way.
EXTRA_CRASHES = 2


class Queue:
    """The ``images`` rows still to embed and their handed-over bytes (``pending_data``)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def known_post(
        self, collection_id: int, facts: ImageFacts
    ) -> Literal["known", "forgotten"] | None:
        """Whether this very post (same source, same message) was already handed over, and
        whether it was forgotten since.

        Telegram may deliver an update twice after a crash, and ``index DIR`` meets the same
        files again on every run: neither must create a second row, nor bring back a picture
        that was forgotten (a deletion wins).
        """
        row = await self._db.fetchone(
            "SELECT deleted FROM images WHERE collection_id = ? AND source IN (?, ?) "
            "AND message_id IS ? ORDER BY deleted LIMIT 1",
            (collection_id, facts.source, forgotten_source(facts.source), facts.message_id),
        )
        if row is None:
            return None
        return "forgotten" if row[0] else "known"

    async def add_image(
        self,
        collection_id: int,
        facts: ImageFacts,
        *,
        data: bytes | None = None,
        repost_of: int | None = None,
    ) -> int | None:
        """Records a picture, queued for embedding (or as a repost); returns its id.

        When this returns, the picture is acknowledged: its row (and ``data``, if the source
        cannot be fetched again) is committed. Returns None, writing nothing, if its poster
        opted out of the collection: checked in the same transaction, so an opt-out that
        lands while the picture is handed over still wins. A repost keeps no bytes: it is
        never embedded.
        """
        status: ImageStatus = "pending" if repost_of is None else "repost"
        now = time.time()
        # Every statement after the first runs only if the one before it wrote its row
        # (changes() = 1), so an opted-out poster's picture leaves nothing behind.
        insert = (
            "INSERT INTO images (collection_id, source, file_unique_id, poster_id, poster_name, "
            "poster_username, posted_at, message_id, caption, status, repost_of, added_at, "
            "indexed_at, kind) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS ("
            "SELECT 1 FROM opted_out WHERE collection_id = ? AND poster_id IS ?)",
            (
                collection_id,
                facts.source,
                facts.file_unique_id,
                facts.poster_id,
                facts.poster_name,
                facts.poster_username,
                facts.posted_at,
                facts.message_id,
                facts.caption,
                status,
                repost_of,
                now,
                None if repost_of is None else now,
                facts.kind,
                collection_id,
                facts.poster_id,
            ),
        )
        statements: list[Statement] = [insert]
        if data is not None and repost_of is None:
            statements.append(
                (
                    "INSERT INTO pending_data (image_id, data) "
                    "SELECT last_insert_rowid(), ? WHERE changes() = 1",
                    (data,),
                )
            )
        caption = (facts.caption or "").strip()
        if caption:
            # A repost's caption describes the same picture, so it belongs to the original.
            # Else pending_data's rowid is the image id, so last_insert_rowid() names the image.
            statements.append(
                (
                    "INSERT INTO texts (image_id, kind, text, folded, added_by, added_at) "
                    "SELECT coalesce(?, last_insert_rowid()), 'caption', ?, ?, ?, ? "
                    "WHERE changes() = 1",
                    (repost_of, caption, caption.casefold(), facts.poster_id, now),
                )
            )
        image = (await self._db.write(statements))[0]
        return image.rowid if image.changed else None

    async def next_pending(
        self,
        limit: int,
        schemes: Iterable[str],
        *,
        exclude_ids: Sequence[int] = (),
        exclude_collections: Sequence[int] = (),
        to_hand_over: bool = False,
    ) -> list[PendingImage]:
        """Queued pictures that are due and can be fetched, oldest first, taking turns between
        collections (each one's oldest, then each one's second...), and inside a collection
        between its posters, so a chat's backlog of thousands does not hold up another chat's
        new picture, nor one person's flood (a hundred slow GIFs) another person's picture.

        A picture can be fetched if its bytes were handed over, or if its source scheme (the
        part before ``:``) is one of ``schemes``. ``exclude_ids`` (already being downloaded)
        and ``exclude_collections`` (with enough downloads in flight) are left out.
        ``to_hand_over`` takes only pictures of ``schemes`` whose bytes were not handed over
        yet (:mod:`indexer.ingest.handover`).
        """
        handed_over = "EXISTS (SELECT 1 FROM pending_data WHERE image_id = images.id)"
        fetchable = f"NOT {handed_over} AND" if to_hand_over else f"{handed_over} OR"
        schemes = list(schemes)
        marks = ",".join("?" * len(schemes))
        skip_ids = ",".join("?" * len(exclude_ids))
        skip_collections = ",".join("?" * len(exclude_collections))
        rows = await self._db.fetchall(
            "SELECT id, collection_id, source, attempts FROM ("
            "SELECT id, collection_id, source, attempts, row_number() OVER ("
            "PARTITION BY collection_id ORDER BY poster_turn, id) AS turn FROM ("
            "SELECT id, collection_id, source, attempts, row_number() OVER ("
            "PARTITION BY collection_id, poster_id ORDER BY id) AS poster_turn FROM images "
            "WHERE status = 'pending' AND deleted = 0 AND (retry_at IS NULL OR retry_at <= ?) "
            f"AND ({fetchable} substr(source, 1, instr(source, ':') - 1) IN ({marks})) "
            f"AND id NOT IN ({skip_ids}) AND collection_id NOT IN ({skip_collections})"
            ") WHERE poster_turn <= ?) ORDER BY turn, id LIMIT ?",
            (time.time(), *schemes, *exclude_ids, *exclude_collections, limit, limit),
        )
        return [PendingImage(int(r[0]), int(r[1]), str(r[2]), int(r[3])) for r in rows]

    async def hand_over(self, image_id: int, data: bytes) -> bool:
        """Keeps the downloaded bytes of a queued picture for the process that embeds it.

        Returns False, keeping nothing, if the picture was forgotten or given up on meanwhile:
        the condition is in the same statement, so a deletion during the download wins.
        """
        written = await self._db.write(
            [
                (
                    "INSERT OR IGNORE INTO pending_data (image_id, data) SELECT ?, ? WHERE EXISTS "
                    "(SELECT 1 FROM images WHERE id = ? AND status = 'pending' AND deleted = 0)",
                    (image_id, data, image_id),
                )
            ]
        )
        return bool(written[0].changed)

    async def handed_over(self) -> tuple[int, int]:
        """(pictures, bytes) handed over and not yet embedded: rows of ``pending_data``."""
        row = await self._db.fetchone("SELECT count(*), total(length(data)) FROM pending_data")
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def pending_data(self, image_id: int) -> bytes | None:
        """The bytes handed over with a queued picture, if they were."""
        row = await self._db.fetchone(
            "SELECT data FROM pending_data WHERE image_id = ?", (image_id,)
        )
        return None if row is None else bytes(row[0])

    async def count_pending(self, collection_id: int | None = None) -> int:
        """Pictures still waiting to be embedded, in one collection or in all."""
        where = "" if collection_id is None else " AND collection_id = ?"
        params = () if collection_id is None else (collection_id,)
        row = await self._db.fetchone(
            f"SELECT count(*) FROM images WHERE status = 'pending' AND deleted = 0{where}", params
        )
        return int(row[0]) if row else 0

    async def mark_indexed(self, embedded: Sequence[EmbeddedImage], model_id: str) -> list[int]:
        """Stores vectors and facts of embedded pictures and takes them off the queue.

        Returns the ids it stored: a picture forgotten while it was being embedded is left
        forgotten (the condition is in the same statements), and must not enter an index.
        A clip's frames are stored with it; a post handed over as a "photo" that decoded as a
        clip (a file of ``index DIR``) takes the kind decoding found.
        """
        now = time.time()
        statements: list[Statement] = []
        updates: list[int] = []
        for item in embedded:
            updates.append(len(statements))
            statements += [
                (
                    "UPDATE images SET status = 'indexed', sha256 = ?, size_bytes = ?, width = ?, "
                    "height = ?, error = NULL, indexed_at = ?, running = 0, kind = CASE WHEN "
                    "kind = 'photo' THEN coalesce(?, kind) ELSE kind END "
                    "WHERE id = ? AND deleted = 0",
                    (
                        item.sha256,
                        item.size_bytes,
                        item.width,
                        item.height,
                        now,
                        item.kind,
                        item.id,
                    ),
                ),
                (
                    "INSERT OR REPLACE INTO vectors (image_id, model_id, vector) SELECT ?, ?, ? "
                    "WHERE EXISTS (SELECT 1 FROM images WHERE id = ? AND deleted = 0)",
                    (item.id, model_id, to_blob(item.vector), item.id),
                ),
                *frame_statements(item, model_id),
                ("DELETE FROM pending_data WHERE image_id = ?", (item.id,)),
            ]
        written = await self._db.write(statements)
        return [item.id for item, at in zip(embedded, updates, strict=True) if written[at].changed]

    async def mark_repost(self, image_id: int, original_id: int, sha256: str, size: int) -> bool:
        """Turns a queued picture into a repost of an already indexed one; False if it did not.

        Its caption moves to the original: it describes the same picture. Nothing changes if
        the picture was forgotten meanwhile, or if the original was: then the picture stays
        queued, and is embedded as an original next time.
        """
        written = await self._db.write(
            [
                (
                    "UPDATE images SET status = 'repost', repost_of = ?, sha256 = ?, "
                    "size_bytes = ?, indexed_at = ?, running = 0 WHERE id = ? AND deleted = 0 AND "
                    f"status = 'pending' AND EXISTS (SELECT 1 FROM images WHERE id = ? AND {LIVE})",
                    (original_id, sha256, size, time.time(), image_id, original_id),
                ),
                ("DELETE FROM pending_data WHERE image_id = ? AND changes() = 1", (image_id,)),
                (
                    "UPDATE texts SET image_id = ? WHERE image_id = ? AND EXISTS "
                    "(SELECT 1 FROM images WHERE id = ? AND status = 'repost')",
                    (original_id, image_id, image_id),
                ),
            ]
        )
        return bool(written[0].changed)

    async def begin_attempts(self, image_ids: Sequence[int], max_attempts: int) -> list[int]:
        """Marks queued pictures as being worked on; returns the ids that may be tried now.

        A picture still marked from before ended its last attempt without an answer: the
        process was killed or crashed while working on it. That is charged to it (``crashes``),
        not counted as a failed attempt; once charged it is tried alone (only the first such
        picture of ``image_ids`` is returned), and after ``max_attempts`` +
        :data:`EXTRA_CRASHES` it is given up.
        Each attempt ends with :meth:`mark_indexed`, :meth:`mark_repost`,
        :meth:`mark_attempt_failed`, or :meth:`end_attempts` when the process stops cleanly.
        """
        rows = await self._db.fetchall_by_ids(
            "SELECT id, running, crashes FROM images WHERE status = 'pending' AND id IN (:ids)",
            image_ids,
        )
        crashes = {int(r[0]): int(r[2]) + int(r[1]) for r in rows}
        charged = [int(r[0]) for r in rows if r[1]]
        most = max_attempts + EXTRA_CRASHES
        worn_out = [i for i in image_ids if crashes.get(i, 0) >= most]
        allowed = [i for i in image_ids if i in crashes and i not in worn_out]
        suspects = [i for i in allowed if crashes[i]]
        if suspects:
            allowed = suspects[:1]
        statements: list[Statement] = [
            ("UPDATE images SET crashes = crashes + 1, running = 0 WHERE id = ?", (i,))
            for i in charged
        ]
        statements += [("UPDATE images SET running = 1 WHERE id = ?", (i,)) for i in allowed]
        error = f"given up: the program ended {most} times while working on it"
        for image_id in worn_out:
            statements += [
                (
                    "UPDATE images SET status = 'failed', error = ?, running = 0 WHERE id = ? "
                    "AND status = 'pending'",
                    (error, image_id),
                ),
                ("DELETE FROM pending_data WHERE image_id = ?", (image_id,)),
            ]
        if statements:
            await self._db.write(statements)
        return allowed

    async def end_attempts(self, image_ids: Sequence[int]) -> None:
        """Ends attempts that were stopped on purpose (the process is stopping cleanly), so
        they are not taken for crashes at the next start."""
        await self._db.write(
            [("UPDATE images SET running = 0 WHERE id = ?", (i,)) for i in image_ids]
        )

    async def mark_attempt_failed(
        self, image_id: int, error: str, *, permanent: bool, max_attempts: int
    ) -> bool:
        """Records how an attempt (begun by :meth:`begin_attempts`) failed; returns True when
        the picture is given up on.

        Permanent errors (a corrupt file) fail at once; transient ones (a network error while
        fetching) are retried, after a growing pause, until ``max_attempts``. An attempt that
        ended with an answer clears the picture of the crashes charged to it: it was not what
        ended the process.
        """
        row = await self._db.fetchone("SELECT attempts FROM images WHERE id = ?", (image_id,))
        attempts = (int(row[0]) if row else 0) + 1
        give_up = permanent or attempts >= max_attempts
        statements: list[Statement] = [
            (
                "UPDATE images SET attempts = ?, error = ?, status = ?, retry_at = ?, "
                "running = 0, crashes = 0 WHERE id = ? AND status = 'pending'",
                (
                    attempts,
                    error,
                    "failed" if give_up else "pending",
                    time.time() + _RETRY_PAUSE_SECONDS * 2**attempts,
                    image_id,
                ),
            ),
        ]
        if give_up:
            statements.append(("DELETE FROM pending_data WHERE image_id = ?", (image_id,)))
        await self._db.write(statements)
        return give_up
