"""The SQLite database: one connection, the schema and its migrations, one write transaction.

SQLite is the source of truth for collections, pictures, vectors and pending work. Everything
needed to rebuild a FAISS index lives here (vectors are stored as BLOBs beside the facts of each
picture), so FAISS files are only a cache. A picture is *acknowledged* once its row is
committed: from then on a crash or restart cannot lose it, because rows still ``pending`` are
the indexer's work queue.

The schema is written out once below with a version number; :meth:`Database.open` migrates
older files forward and refuses files written by a newer version of the code. The tables are
read and written by one module per concern (:mod:`indexer.store`), all sharing this connection
and :meth:`Database.write`, so a change spanning tables is still one transaction.

Length (over ~350 lines, on purpose): every migration since the first schema is written
out here, in order, so the schema's whole history and the one write path read together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import aiosqlite
import numpy as np

from indexer.errors import (
    DamagedDatabaseError,
    DatabaseBusyError,
    DataFolderError,
    IndexerError,
    StorageError,
)
from indexer.invocation import indexer_command
from indexer.store.word_match import contains_words

log = logging.getLogger(__name__)

SCHEMA_VERSION = 11
#: How long a forget's checkpoint waits for another program's readers before it leaves the
#: WAL to a later checkpoint (see Database.erase_history).
ERASE_WAIT_MS = 2000
#: The database's file name inside ``storage.data_dir``.
DATABASE_FILE = "index.sqlite3"
#: How long a write waits for another program's transaction (the bot's worker migrating a new
#: folder, a backup, a long forget) before giving up with DatabaseBusyError.
BUSY_WAIT_SECONDS = 60.0

#: Keep the trigram index of ``texts`` in step with it (schema 5, and again after the table is
#: rebuilt in schema 8).
_TRIGRAM_TRIGGERS = """
    CREATE TRIGGER texts_trigrams_insert AFTER INSERT ON texts BEGIN
        INSERT INTO texts_trigrams(rowid, folded) VALUES (new.id, new.folded);
    END;
    CREATE TRIGGER texts_trigrams_delete AFTER DELETE ON texts BEGIN
        INSERT INTO texts_trigrams(texts_trigrams, rowid, folded)
            VALUES ('delete', old.id, old.folded);
    END;
    CREATE TRIGGER texts_trigrams_update AFTER UPDATE OF folded ON texts BEGIN
        INSERT INTO texts_trigrams(texts_trigrams, rowid, folded)
            VALUES ('delete', old.id, old.folded);
        INSERT INTO texts_trigrams(rowid, folded) VALUES (new.id, new.folded);
    END;
"""

#: Each entry upgrades the schema from version ``index`` to ``index + 1``.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE collections (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_at  REAL NOT NULL
    );
    CREATE TABLE images (
        id              INTEGER PRIMARY KEY,
        collection_id   INTEGER NOT NULL REFERENCES collections(id),
        source          TEXT NOT NULL,
        file_unique_id  TEXT,
        sha256          TEXT,
        size_bytes      INTEGER,
        width           INTEGER,
        height          INTEGER,
        poster_id       INTEGER,
        poster_name     TEXT,
        posted_at       REAL,
        message_id      INTEGER,
        caption         TEXT,
        status          TEXT NOT NULL
                        CHECK (status IN ('pending', 'indexed', 'repost', 'failed')),
        error           TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        retry_at        REAL,
        repost_of       INTEGER REFERENCES images(id),
        deleted         INTEGER NOT NULL DEFAULT 0,
        added_at        REAL NOT NULL,
        indexed_at      REAL
    );
    CREATE INDEX images_by_unique_id ON images(collection_id, file_unique_id);
    CREATE INDEX images_by_sha256 ON images(collection_id, sha256);
    CREATE INDEX images_by_source ON images(collection_id, source);
    CREATE INDEX images_by_message ON images(collection_id, message_id);
    CREATE INDEX images_by_poster ON images(collection_id, poster_id);
    CREATE INDEX images_pending ON images(status) WHERE status = 'pending';
    CREATE TABLE vectors (
        image_id    INTEGER NOT NULL REFERENCES images(id),
        model_id    TEXT NOT NULL,
        vector      BLOB NOT NULL,
        PRIMARY KEY (image_id, model_id)
    );
    CREATE TABLE pending_data (
        image_id    INTEGER PRIMARY KEY REFERENCES images(id),
        data        BLOB NOT NULL
    );
    CREATE TABLE opted_out (
        collection_id   INTEGER NOT NULL REFERENCES collections(id),
        poster_id       INTEGER NOT NULL,
        PRIMARY KEY (collection_id, poster_id)
    );
    """,
    # 2: captions and tags become searchable texts with vectors of their own.
    """
    CREATE TABLE texts (
        id          INTEGER PRIMARY KEY,
        image_id    INTEGER NOT NULL REFERENCES images(id),
        kind        TEXT NOT NULL CHECK (kind IN ('caption', 'tag')),
        text        TEXT NOT NULL,
        added_by    INTEGER,
        added_at    REAL NOT NULL
    );
    CREATE INDEX texts_by_image ON texts(image_id);
    CREATE TABLE text_vectors (
        text_id     INTEGER NOT NULL REFERENCES texts(id),
        model_id    TEXT NOT NULL,
        vector      BLOB NOT NULL,
        PRIMARY KEY (text_id, model_id)
    );
    INSERT INTO texts (image_id, kind, text, added_at)
        SELECT id, 'caption', trim(caption), added_at FROM images
        WHERE deleted = 0 AND repost_of IS NULL AND trim(coalesce(caption, '')) != '';
    """,
    # 3: a case-folded copy of each text, so the substring match runs in SQLite's own code
    # instead of calling Python twice per caption (6× faster; docs/BENCHMARKS.md).
    """
    ALTER TABLE texts ADD COLUMN folded TEXT NOT NULL DEFAULT '';
    UPDATE texts SET folded = casefold(text);
    """,
    # 4: each model's calibrated similarity thresholds (indexer/store/calibrations.py).
    """
    CREATE TABLE model_calibrations (
        model_id     TEXT PRIMARY KEY,
        method       TEXT NOT NULL,
        calibration  TEXT NOT NULL,
        measured_at  REAL NOT NULL
    );
    """,
    # 5: captions and tags found by what they contain through a trigram index, and by what
    # they are through an index on the folded text, instead of reading every one
    # (indexer/store/texts.py). Triggers keep the trigram index in step with the texts.
    """
    CREATE VIRTUAL TABLE texts_trigrams USING fts5(
        folded, content='texts', content_rowid='id', tokenize='trigram case_sensitive 1'
    );
    INSERT INTO texts_trigrams(texts_trigrams) VALUES ('rebuild');
    """
    + _TRIGRAM_TRIGGERS
    + """
    CREATE INDEX texts_by_folded ON texts(folded);
    """,
    # 6: an attempt that ended with the process (killed, crashed) is told apart from a failed
    # one: ``running`` marks a picture being worked on, ``crashes`` counts the attempts that
    # ended without an answer (indexer/store/queue.py, begin_attempts).
    """
    ALTER TABLE images ADD COLUMN running INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE images ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: what a row is (a photo, a clip, a GIF, a round video note, a sticker), the poster's
    # @username (for ``from:@name``, erased with the name on a forget), and an index for
    # filters by date. Every row before this version was a still picture.
    """
    ALTER TABLE images ADD COLUMN kind TEXT NOT NULL DEFAULT 'photo'
        CHECK (kind IN ('photo', 'video', 'gif', 'video_note', 'sticker'));
    ALTER TABLE images ADD COLUMN poster_username TEXT;
    CREATE INDEX images_by_posted_at ON images(collection_id, posted_at);
    """,
    # 8: a clip's frames, each with the moment it shows and its vector of one model, so a
    # query matches a clip by its best frame and says when (indexer/store/vectors.py). The
    # clip's own row in ``vectors`` (the mean of its frames) is what the indexes hold.
    """
    CREATE TABLE clip_frames (
        image_id    INTEGER NOT NULL REFERENCES images(id),
        model_id    TEXT NOT NULL,
        position    INTEGER NOT NULL,
        seconds     REAL NOT NULL,
        vector      BLOB NOT NULL,
        PRIMARY KEY (image_id, model_id, position)
    );
    """,
    # 9: the words written in the pictures themselves (read by indexer/ocr) become a third kind
    # of text with the recogniser's confidence, searched like captions and tags. SQLite cannot
    # widen a CHECK, so ``texts`` is rebuilt under the same ids (its vectors set aside and put
    # back, since they refer to it), with its indexes and triggers; the trigram index, whose
    # rowids are those ids, is rebuilt from it. ``picture_readings`` records which pictures were
    # read and the failed attempts; pictures without a row are read by the background stage,
    # so the pictures of an existing data folder are read too.
    """
    CREATE TABLE texts_widened (
        id          INTEGER PRIMARY KEY,
        image_id    INTEGER NOT NULL REFERENCES images(id),
        kind        TEXT NOT NULL CHECK (kind IN ('caption', 'tag', 'ocr')),
        text        TEXT NOT NULL,
        added_by    INTEGER,
        added_at    REAL NOT NULL,
        folded      TEXT NOT NULL DEFAULT '',
        confidence  REAL
    );
    INSERT INTO texts_widened (id, image_id, kind, text, added_by, added_at, folded)
        SELECT id, image_id, kind, text, added_by, added_at, folded FROM texts;
    CREATE TEMP TABLE text_vectors_aside AS SELECT text_id, model_id, vector FROM text_vectors;
    DROP TABLE text_vectors;
    DROP TABLE texts;
    ALTER TABLE texts_widened RENAME TO texts;
    CREATE INDEX texts_by_image ON texts(image_id);
    CREATE INDEX texts_by_folded ON texts(folded);
    CREATE TABLE text_vectors (
        text_id     INTEGER NOT NULL REFERENCES texts(id),
        model_id    TEXT NOT NULL,
        vector      BLOB NOT NULL,
        PRIMARY KEY (text_id, model_id)
    );
    INSERT INTO text_vectors (text_id, model_id, vector)
        SELECT text_id, model_id, vector FROM text_vectors_aside;
    DROP TABLE text_vectors_aside;
    """
    + _TRIGRAM_TRIGGERS
    + """
    INSERT INTO texts_trigrams(texts_trigrams) VALUES ('rebuild');
    CREATE TABLE picture_readings (
        image_id    INTEGER PRIMARY KEY REFERENCES images(id),
        read_at     REAL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        retry_at    REAL,
        error       TEXT
    );
    """,
    # 10: every frame of a clip gets an id of its own, never reused (AUTOINCREMENT), which is
    # its id in the frame index (FRAME_VECTORS), so a query reaches a clip through any frame.
    """
    CREATE TABLE clip_frames_numbered (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id    INTEGER NOT NULL REFERENCES images(id),
        model_id    TEXT NOT NULL,
        position    INTEGER NOT NULL,
        seconds     REAL NOT NULL,
        vector      BLOB NOT NULL,
        UNIQUE (image_id, model_id, position)
    );
    INSERT INTO clip_frames_numbered (image_id, model_id, position, seconds, vector)
        SELECT image_id, model_id, position, seconds, vector FROM clip_frames
        ORDER BY image_id, model_id, position;
    DROP TABLE clip_frames;
    ALTER TABLE clip_frames_numbered RENAME TO clip_frames;
    """,
    # 11: ``kind:video`` names its few pictures through an index instead of reading every row
    # of the collection (384 ms p50 at 1 M pictures without it; docs/BENCHMARKS.md).
    """
    CREATE INDEX images_by_kind ON images(collection_id, kind);
    """,
]

#: An original picture that is (or will be) searchable: not a repost, not forgotten, not failed.
LIVE = "deleted = 0 AND repost_of IS NULL AND status IN ('pending', 'indexed')"

#: One statement of a write transaction: SQL and its parameters.
Statement = tuple[str, Sequence[Any] | dict[str, Any]]


class Database:
    """The one connection to the SQLite file; every write is one short transaction."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._write_lock = asyncio.Lock()
        #: Transactions committed by :meth:`write` since opening: whether storing works.
        self.writes_committed = 0

    @classmethod
    async def open(cls, path: Path, busy_wait: float = BUSY_WAIT_SECONDS) -> Database:
        """Opens (creating or migrating) the database at ``path`` in WAL mode.

        A missing file becomes a new, empty database. A file that exists but is empty or
        damaged is never replaced: it raises DamagedDatabaseError naming the file and what to
        do, as a silently new database would make every picture of every chat disappear.
        A file another program keeps locked for longer than ``busy_wait`` seconds (also while
        writing, later) raises DatabaseBusyError instead: it is in use, not damaged.
        """
        started = time.monotonic()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            existed = await asyncio.to_thread(_create_whole, path)
            return await cls._open(path, busy_wait, existed)
        except OSError as exc:
            raise DataFolderError(
                f"cannot use the data folder {path.parent} (storage.data_dir): "
                f"{exc.strerror or exc}; let this program's user write there, or set "
                "storage.data_dir to a folder it may write"
            ) from None
        except sqlite3.DatabaseError as exc:
            if cannot_open(exc):
                raise DataFolderError(
                    f"cannot open {path} for writing ({exc}); let this program's user write in "
                    "the data folder (storage.data_dir), or set storage.data_dir to another"
                ) from None
            if _out_of_room(exc):
                raise StorageError(f"cannot open {path} ({exc}): free space or memory") from None
            if _is_busy(exc):
                waited = round(time.monotonic() - started, 1)
                raise DatabaseBusyError(
                    f"{path} is in use by another program (waited {waited:g} s for it): is "
                    "another clip-search-bot, its worker or a command busy with this data "
                    "folder? Try again when it is done"
                ) from None
            raise DamagedDatabaseError(
                f"{path} is damaged ({exc}): restore it from a backup ({indexer_command()} "
                "backup), or move it away to start with an empty one"
            ) from None

    @classmethod
    async def _open(cls, path: Path, busy_wait: float, existed: bool) -> Database:
        db = await aiosqlite.connect(path, timeout=busy_wait)
        db.row_factory = aiosqlite.Row
        database = cls(db)
        try:
            if existed:
                await database._refuse_empty(path)
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            # Deleted content is overwritten with zeros, not left in free space: a forgotten
            # caption or name must not be readable from the file or a copy of it.
            await db.execute("PRAGMA secure_delete=ON")
            # SQLite's lower() only knows ASCII; tags and queries come in every script.
            await db.create_function("casefold", 1, _casefold, deterministic=True)
            await db.create_function("contains_words", 2, _contains_words, deterministic=True)
            await database._migrate(path)
            await database._refresh_statistics()
        except BaseException:
            await db.close()
            raise
        return database

    async def _refuse_empty(self, path: Path) -> None:
        """Raises DamagedDatabaseError for a file of 0 bytes (a truncated or emptied one).

        The size is read under the write lock: another program that created the file and
        holds it while writing its first pages is waited for, not taken for damage.
        """
        if path.stat().st_size:
            return
        await self._db.execute("BEGIN IMMEDIATE")
        empty = path.stat().st_size == 0
        await self._db.rollback()
        if empty:
            raise DamagedDatabaseError(
                f"{path} is empty (0 bytes), not a database: restore it from a backup "
                f"({indexer_command()} backup), or move it away to start with an empty one"
            )

    async def _refresh_statistics(self) -> None:
        """Lets SQLite's planner see the tables' sizes (ANALYZE, 0.4 s at a million pictures).

        Without statistics it finds a collection's captions by walking every picture of the
        collection: 334 ms per text query at a million pictures, 62 ms with them
        (docs/BENCHMARKS.md). A sampled ANALYZE (``analysis_limit``) misjudges how selective
        a collection is and keeps the slow plan, so the whole tables are read.
        """
        await self._db.execute("ANALYZE")
        await self._db.commit()

    async def erase_history(self) -> None:
        """Copies the WAL into the database file and empties it, so rows just erased (with
        secure delete) leave no older copy of their pages in the WAL. Readers of an older
        snapshot (another process) can keep pages from being copied, and a read of this
        connection still running locks the checkpoint out: then the WAL empties at a later
        checkpoint (the next forget, SQLite's own, or :meth:`close`), and this returns after
        :data:`ERASE_WAIT_MS` instead of waiting as long as a write would, or failing the
        forget, whose rows are erased already."""
        (busy_ms,) = await (await self._db.execute("PRAGMA busy_timeout")).fetchone() or (0,)
        await self._db.execute(f"PRAGMA busy_timeout = {ERASE_WAIT_MS}")
        try:
            await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            log.info("the WAL is emptied later: %s", exc)
        finally:
            await self._db.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")

    async def close(self) -> None:
        """Closes the connection (refreshing the planner's statistics if they went stale);
        committed data is safe on disk, and a WAL that a forget could not empty is emptied."""
        await self._db.execute("PRAGMA optimize")
        await self.erase_history()
        await self._db.close()

    async def _migrate(self, path: Path) -> None:
        """Brings the schema up to SCHEMA_VERSION in one transaction holding the write lock.

        The version is read inside that transaction, so of two programs opening a new folder
        at once (the bot and its worker) one migrates and the other, having waited for the
        lock, finds the schema current and does nothing.
        """
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            await self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            row = await self.fetchone("SELECT version FROM schema_version")
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise IndexerError(
                    f"{path} was written by a newer clip-search-bot (schema {version}, this "
                    f"code knows up to {SCHEMA_VERSION}); upgrade clip-search-bot to open it"
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[step]):
                    await self._db.execute(statement)
            if version < SCHEMA_VERSION:
                await self._db.execute("DELETE FROM schema_version")
                await self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            await self._db.commit()
        except BaseException:
            await self._db.rollback()
            raise

    async def fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> aiosqlite.Row | None:
        async with self._db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[aiosqlite.Row]:
        async with self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchall_by_ids(
        self, sql: str, ids: Sequence[int], *leading: Any
    ) -> list[aiosqlite.Row]:
        """Rows of ``sql`` for every id, in chunks that fit SQLite's parameter limit.

        ``sql`` names the id list ``(:ids)``; ``leading`` fills the ``?`` before it.
        """
        rows: list[aiosqlite.Row] = []
        for chunk in chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            rows += await self.fetchall(sql.replace(":ids", marks), (*leading, *chunk))
        return rows

    async def write(self, statements: Iterable[Statement]) -> list[Written]:
        """Runs statements in one transaction; returns what each one wrote.

        The only way anything is written: a change that spans tables (a picture, its vector
        and its queued bytes) commits whole or not at all. A write that must not happen to a
        forgotten picture carries that condition in its own SQL, and :attr:`Written.changed`
        tells the caller whether it applied.
        """
        async with self._write_lock:
            written = []
            try:
                for sql, params in statements:
                    cursor = await self._db.execute(sql, params)
                    written.append(Written(cursor.lastrowid, cursor.rowcount))
                await self._db.commit()
            except BaseException:
                # The error that failed the write is the one to report: a rollback that fails
                # too (after a disk error SQLite may have rolled back already: "no transaction
                # is active") must not replace a storage failure with a statement error.
                with contextlib.suppress(sqlite3.Error):
                    await self._db.rollback()
                raise
            self.writes_committed += 1
            return written


class Written(NamedTuple):
    """What one statement of :meth:`Database.write` did."""

    #: The id of the row it inserted (SQLite's ``lastrowid``).
    rowid: int | None
    #: How many rows it inserted, changed or deleted.
    changed: int


def _create_whole(path: Path) -> bool:
    """Creates a missing database file whole (written aside, then linked into place);
    returns whether it existed already, so that only then 0 bytes mean damage.

    SQLite would create it empty and write its first page later, and a second program
    seeing those 0 bytes in between could not tell them from a truncated file. A link never
    replaces a file that another program created first.
    """
    if path.exists():
        return True
    try:
        fd, aside = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    except OSError:
        return False  # a folder we may not write to: SQLite's own open says so
    os.close(fd)
    try:
        with contextlib.closing(sqlite3.connect(aside)) as db:
            db.execute("PRAGMA journal_mode=WAL")
        os.link(aside, path)
    except FileExistsError:
        pass  # another program created it first: that one is opened
    except OSError:
        pass  # no hard links here (FAT, some network shares): SQLite creates it, as before
    finally:
        os.unlink(aside)
    return False


def _primary_code(error: sqlite3.DatabaseError) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def cannot_open(error: sqlite3.DatabaseError) -> bool:
    """SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN: the folder's settings, not damage."""
    return _primary_code(error) in (3, 8, 14)


def _out_of_room(error: sqlite3.DatabaseError) -> bool:
    """SQLITE_NOMEM, SQLITE_IOERR, SQLITE_FULL: the machine's trouble, not damage."""
    return _primary_code(error) in (7, 10, 13)


def _is_busy(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite gave up waiting for another connection's lock (SQLITE_BUSY)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return "database is locked" in str(exc)
    return code & 0xFF == sqlite3.SQLITE_BUSY


def _statements(script: str) -> Iterable[str]:
    """The statements of a migration script, one at a time.

    ``executescript`` would commit the migration's transaction before running the script;
    splitting where SQLite sees a complete statement keeps a trigger's body whole.
    """
    pending = ""
    for part in script.split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending.strip()
            pending = ""


def _contains_words(text: str | None, part: str | None) -> bool:
    return text is not None and part is not None and contains_words(text, part)


def _casefold(text: str | None) -> str | None:
    return None if text is None else text.casefold()


def to_blob(vector: np.ndarray) -> bytes:
    """A vector as stored: float32 bytes."""
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    """A stored vector back as float32."""
    return np.frombuffer(blob, dtype=np.float32)


def chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    """Splits id lists so that no statement exceeds SQLite's parameter limit."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
