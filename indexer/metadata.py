"""The SQLite database: the source of truth for collections, pictures, vectors and pending work.

Everything needed to rebuild a FAISS index lives here (vectors are stored as BLOBs beside the
facts of each picture), so FAISS files are only a cache. A picture is *acknowledged* once its row
is committed: from then on a crash or restart cannot lose it, because rows still ``pending`` are
the indexer's work queue.

The schema is written out once below with a version number; :meth:`MetadataStore.open` migrates
older files forward and refuses files written by a newer version of the code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiosqlite
import numpy as np

from indexer.errors import IndexerError
from indexer.words import contains_words

SCHEMA_VERSION = 3
#: The database's file name inside ``storage.data_dir``.
DATABASE_FILE = "index.sqlite3"

#: Each entry upgrades the schema from version ``index`` to ``index + 1``.
_MIGRATIONS: list[str] = [
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
]

ImageStatus = Literal["pending", "indexed", "repost", "failed"]
TextKind = Literal["caption", "tag"]

_IMAGE_COLUMNS = (
    "images.id, collections.name, source, file_unique_id, sha256, size_bytes, width, height, "
    "poster_id, poster_name, posted_at, message_id, caption, status, error, repost_of, "
    "added_at, indexed_at"
)
_TEXT_COLUMNS = "texts.id, texts.image_id, images.collection_id, texts.kind, texts.text"
#: The first retry of a picture whose fetch failed waits this long; each next one twice as long.
_RETRY_PAUSE_SECONDS = 2.0
#: An original picture that is (or will be) searchable: not a repost, not forgotten, not failed.
_LIVE = "deleted = 0 AND repost_of IS NULL AND status IN ('pending', 'indexed')"


@dataclass(frozen=True)
class ImageFacts:
    """What the caller knows about a picture when it hands it over."""

    source: str
    file_unique_id: str | None = None
    poster_id: int | None = None
    poster_name: str | None = None
    posted_at: float | None = None
    message_id: int | None = None
    caption: str | None = None


@dataclass(frozen=True)
class VectorKind:
    """Where one kind of vector is stored: picture vectors, or caption and tag vectors.

    ``joined`` reaches the ``images`` row the vector belongs to, so both kinds share one
    definition of a searchable picture.
    """

    table: str
    key: str
    id_column: str
    joined: str


PICTURE_VECTORS = VectorKind(
    table="vectors",
    key="image_id",
    id_column="images.id",
    joined="images JOIN vectors ON vectors.image_id = images.id",
)
TEXT_VECTORS = VectorKind(
    table="text_vectors",
    key="text_id",
    id_column="texts.id",
    joined="texts JOIN text_vectors ON text_vectors.text_id = texts.id "
    "JOIN images ON images.id = texts.image_id",
)


@dataclass(frozen=True)
class ImageRecord:
    """One stored picture (or repost) with everything known about it."""

    id: int
    collection: str
    source: str
    file_unique_id: str | None
    sha256: str | None
    size_bytes: int | None
    width: int | None
    height: int | None
    poster_id: int | None
    poster_name: str | None
    posted_at: float | None
    message_id: int | None
    caption: str | None
    status: ImageStatus
    error: str | None
    repost_of: int | None
    added_at: float
    indexed_at: float | None


@dataclass(frozen=True)
class ImageText:
    """A caption or tag of a picture: searchable words beside its pixels."""

    id: int
    image_id: int
    collection_id: int
    kind: TextKind
    text: str


@dataclass(frozen=True)
class Forgotten:
    """What a forget removed: picture ids and the ids of their captions and tags."""

    images: list[int]
    texts: list[int]


@dataclass(frozen=True)
class PendingImage:
    """A queued picture the worker still has to fetch and embed."""

    id: int
    collection_id: int
    source: str
    attempts: int


@dataclass(frozen=True)
class EmbeddedImage:
    """The result of embedding one pending picture, ready to be committed."""

    id: int
    sha256: str
    size_bytes: int
    width: int
    height: int
    vector: np.ndarray


@dataclass(frozen=True)
class CollectionCounts:
    """How many pictures of a collection are in each state."""

    indexed: int
    reposts: int
    pending: int
    failed: int
    forgotten: int
    without_vector: int
    last_indexed_at: float | None


class MetadataStore:
    """Async access to the SQLite database; every write is one short transaction."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> MetadataStore:
        """Opens (creating or migrating) the database at ``path`` in WAL mode."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA foreign_keys=ON")
        # SQLite's lower() only knows ASCII; tags and queries come in every script.
        await db.create_function("casefold", 1, _casefold, deterministic=True)
        await db.create_function("contains_words", 2, _contains_words, deterministic=True)
        store = cls(db)
        try:
            await store._migrate(path)
            await store._refresh_statistics()
        except BaseException:
            await db.close()
            raise
        return store

    async def _refresh_statistics(self) -> None:
        """Lets SQLite's planner see the tables' sizes (ANALYZE, 0.4 s at a million pictures).

        Without statistics it finds a collection's captions by walking every picture of the
        collection: 334 ms per text query at a million pictures, 62 ms with them
        (docs/BENCHMARKS.md). A sampled ANALYZE (``analysis_limit``) misjudges how selective
        a collection is and keeps the slow plan, so the whole tables are read.
        """
        await self._db.execute("ANALYZE")
        await self._db.commit()

    async def close(self) -> None:
        """Closes the connection (refreshing the planner's statistics if they went stale);
        committed data is safe on disk."""
        await self._db.execute("PRAGMA optimize")
        await self._db.close()

    async def _migrate(self, path: Path) -> None:
        await self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
        row = await self._fetchone("SELECT version FROM schema_version")
        version = 0 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise IndexerError(
                f"{path} was written by a newer clip-search-bot (schema {version}, this code "
                f"knows up to {SCHEMA_VERSION}); upgrade clip-search-bot to open it"
            )
        for step in range(version, SCHEMA_VERSION):
            await self._db.executescript(
                "BEGIN;" + _MIGRATIONS[step] + "DELETE FROM schema_version;"
                f"INSERT INTO schema_version VALUES ({step + 1}); COMMIT;"
            )

    async def _fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> aiosqlite.Row | None:
        async with self._db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def _fetchall_by_ids(
        self, sql: str, ids: Sequence[int], *leading: Any
    ) -> list[aiosqlite.Row]:
        """Rows of ``sql`` for every id, in chunks that fit SQLite's parameter limit.

        ``sql`` names the id list ``(:ids)``; ``leading`` fills the ``?`` before it.
        """
        rows: list[aiosqlite.Row] = []
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            rows += await self._fetchall(sql.replace(":ids", marks), (*leading, *chunk))
        return rows

    async def _fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[aiosqlite.Row]:
        async with self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _write(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> list[int | None]:
        """Runs statements in one transaction and returns each one's ``lastrowid``."""
        async with self._write_lock:
            rowids = []
            try:
                for sql, params in statements:
                    cursor = await self._db.execute(sql, params)
                    rowids.append(cursor.lastrowid)
                await self._db.commit()
            except BaseException:
                await self._db.rollback()
                raise
            return rowids

    # Collections

    async def collection_id(self, name: str) -> int | None:
        """The id of collection ``name``, or None if it was never created."""
        row = await self._fetchone("SELECT id FROM collections WHERE name = ?", (name,))
        return None if row is None else int(row[0])

    async def ensure_collection(self, name: str) -> int:
        """The id of collection ``name``, creating it on first use."""
        existing = await self.collection_id(name)
        if existing is not None:
            return existing
        await self._write(
            [
                (
                    "INSERT OR IGNORE INTO collections (name, created_at) VALUES (?, ?)",
                    (name, time.time()),
                )
            ]
        )
        created = await self.collection_id(name)
        assert created is not None
        return created

    async def rename_collection(self, collection_id: int, name: str) -> None:
        await self._write([("UPDATE collections SET name = ? WHERE id = ?", (name, collection_id))])

    async def merge_collections(self, source_id: int, target_id: int) -> None:
        """Moves every picture and opt-out of ``source_id`` into ``target_id``, then drops it."""
        await self._write(
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

    async def collections(self) -> dict[str, int]:
        """All collections, name → id."""
        rows = await self._fetchall("SELECT name, id FROM collections ORDER BY name")
        return {str(row[0]): int(row[1]) for row in rows}

    # Adding pictures

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
        row = await self._fetchone(
            f"SELECT id FROM images WHERE collection_id = ? AND {column} = ? AND {_LIVE} "
            "AND id IS NOT ? ORDER BY id LIMIT 1",
            (collection_id, value, other_than),
        )
        return None if row is None else int(row[0])

    async def is_known_post(self, collection_id: int, facts: ImageFacts) -> bool:
        """Whether this very post (same source, same message) was already handed over.

        Telegram may deliver an update twice after a crash, and ``index DIR`` meets the same
        files again on every run: neither must create a second row.
        """
        row = await self._fetchone(
            "SELECT 1 FROM images WHERE collection_id = ? AND source = ? AND message_id IS ? "
            "AND deleted = 0 LIMIT 1",
            (collection_id, facts.source, facts.message_id),
        )
        return row is not None

    async def add_image(
        self,
        collection_id: int,
        facts: ImageFacts,
        *,
        data: bytes | None = None,
        repost_of: int | None = None,
    ) -> int:
        """Records a picture, queued for embedding (or as a repost); returns its id.

        When this returns, the picture is acknowledged: its row (and ``data``, if the source
        cannot be fetched again) is committed.
        """
        status: ImageStatus = "pending" if repost_of is None else "repost"
        now = time.time()
        insert = (
            "INSERT INTO images (collection_id, source, file_unique_id, poster_id, poster_name, "
            "posted_at, message_id, caption, status, repost_of, added_at, indexed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                collection_id,
                facts.source,
                facts.file_unique_id,
                facts.poster_id,
                facts.poster_name,
                facts.posted_at,
                facts.message_id,
                facts.caption,
                status,
                repost_of,
                now,
                None if repost_of is None else now,
            ),
        )
        statements = [insert]
        if data is not None:
            statements.append(
                (
                    "INSERT INTO pending_data (image_id, data) VALUES (last_insert_rowid(), ?)",
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
                    "VALUES (coalesce(?, last_insert_rowid()), 'caption', ?, ?, ?, ?)",
                    (repost_of, caption, caption.casefold(), facts.poster_id, now),
                )
            )
        rowids = await self._write(statements)
        assert rowids[0] is not None
        return rowids[0]

    # The work queue

    async def next_pending(
        self,
        limit: int,
        schemes: Iterable[str],
        *,
        exclude_ids: Sequence[int] = (),
        exclude_collections: Sequence[int] = (),
    ) -> list[PendingImage]:
        """Queued pictures that are due and can be fetched, oldest first, taking turns between
        collections (each one's oldest, then each one's second...), so a chat's backlog of
        thousands does not hold up another chat's new picture.

        A picture can be fetched if its bytes were handed over, or if its source scheme (the
        part before ``:``) is one of ``schemes``. ``exclude_ids`` (already being downloaded)
        and ``exclude_collections`` (with enough downloads in flight) are left out.
        """
        schemes = list(schemes)
        marks = ",".join("?" * len(schemes))
        skip_ids = ",".join("?" * len(exclude_ids))
        skip_collections = ",".join("?" * len(exclude_collections))
        rows = await self._fetchall(
            "SELECT id, collection_id, source, attempts FROM ("
            "SELECT id, collection_id, source, attempts, "
            "row_number() OVER (PARTITION BY collection_id ORDER BY id) AS turn FROM images "
            "WHERE status = 'pending' AND deleted = 0 AND (retry_at IS NULL OR retry_at <= ?) "
            "AND (EXISTS (SELECT 1 FROM pending_data WHERE image_id = images.id) "
            f"OR substr(source, 1, instr(source, ':') - 1) IN ({marks})) "
            f"AND id NOT IN ({skip_ids}) AND collection_id NOT IN ({skip_collections})"
            ") ORDER BY turn, id LIMIT ?",
            (time.time(), *schemes, *exclude_ids, *exclude_collections, limit),
        )
        return [PendingImage(int(r[0]), int(r[1]), str(r[2]), int(r[3])) for r in rows]

    async def pending_data(self, image_id: int) -> bytes | None:
        """The bytes handed over with a queued picture, if they were."""
        row = await self._fetchone("SELECT data FROM pending_data WHERE image_id = ?", (image_id,))
        return None if row is None else bytes(row[0])

    async def count_pending(self, collection_id: int | None = None) -> int:
        """Pictures still waiting to be embedded, in one collection or in all."""
        where = "" if collection_id is None else " AND collection_id = ?"
        params = () if collection_id is None else (collection_id,)
        row = await self._fetchone(
            f"SELECT count(*) FROM images WHERE status = 'pending' AND deleted = 0{where}", params
        )
        return int(row[0]) if row else 0

    async def mark_indexed(self, embedded: Sequence[EmbeddedImage], model_id: str) -> None:
        """Stores vectors and facts of embedded pictures and takes them off the queue."""
        now = time.time()
        statements: list[tuple[str, Sequence[Any]]] = []
        for item in embedded:
            statements += [
                (
                    "UPDATE images SET status = 'indexed', sha256 = ?, size_bytes = ?, width = ?, "
                    "height = ?, error = NULL, indexed_at = ? WHERE id = ?",
                    (item.sha256, item.size_bytes, item.width, item.height, now, item.id),
                ),
                (
                    "INSERT OR REPLACE INTO vectors (image_id, model_id, vector) VALUES (?, ?, ?)",
                    (item.id, model_id, _to_blob(item.vector)),
                ),
                ("DELETE FROM pending_data WHERE image_id = ?", (item.id,)),
            ]
        await self._write(statements)

    async def mark_repost(self, image_id: int, original_id: int, sha256: str, size: int) -> None:
        """Turns a queued picture into a repost of an already indexed one.

        Its caption moves to the original: it describes the same picture.
        """
        await self._write(
            [
                (
                    "UPDATE images SET status = 'repost', repost_of = ?, sha256 = ?, "
                    "size_bytes = ?, indexed_at = ? WHERE id = ?",
                    (original_id, sha256, size, time.time(), image_id),
                ),
                ("DELETE FROM pending_data WHERE image_id = ?", (image_id,)),
                ("UPDATE texts SET image_id = ? WHERE image_id = ?", (original_id, image_id)),
            ]
        )

    async def begin_attempts(self, image_ids: Sequence[int], max_attempts: int) -> list[int]:
        """Counts an attempt for each queued picture before any work on it; returns the ids
        that may be tried now, in order.

        Counting first is what stops a crash loop: a picture whose processing kills the
        process (a decompression bomb, the OOM killer) leaves its attempts behind, and once it
        has had ``max_attempts`` it is given up instead of killing every restart.
        """
        rows = await self._fetchall_by_ids(
            "SELECT id, attempts FROM images WHERE status = 'pending' AND id IN (:ids)", image_ids
        )
        attempts = {int(row[0]): int(row[1]) for row in rows}
        worn_out = [i for i in image_ids if attempts.get(i, 0) >= max_attempts]
        allowed = [i for i in image_ids if i in attempts and i not in worn_out]
        error = f"given up after {max_attempts} attempts that ended without an answer"
        statements: list[tuple[str, Sequence[Any]]] = [
            ("UPDATE images SET attempts = attempts + 1 WHERE id = ?", (i,)) for i in allowed
        ]
        for image_id in worn_out:
            statements += [
                (
                    "UPDATE images SET status = 'failed', error = ? WHERE id = ? "
                    "AND status = 'pending'",
                    (error, image_id),
                ),
                ("DELETE FROM pending_data WHERE image_id = ?", (image_id,)),
            ]
        if statements:
            await self._write(statements)
        return allowed

    async def mark_attempt_failed(
        self, image_id: int, error: str, *, permanent: bool, max_attempts: int
    ) -> bool:
        """Records how an attempt (counted by :meth:`begin_attempts`) failed; returns True when
        the picture is given up on.

        Permanent errors (a corrupt file) fail at once; transient ones (a network error while
        fetching) are retried, after a growing pause, until ``max_attempts``.
        """
        row = await self._fetchone("SELECT attempts FROM images WHERE id = ?", (image_id,))
        attempts = max(int(row[0]) if row else 0, 1)
        give_up = permanent or attempts >= max_attempts
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "UPDATE images SET attempts = ?, error = ?, status = ?, retry_at = ? "
                "WHERE id = ? AND status = 'pending'",
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
        await self._write(statements)
        return give_up

    # Vectors

    async def vectors(
        self, collection_id: int, model_id: str, kind: VectorKind
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ids and vectors of one kind for the collection's searchable pictures."""
        rows = await self._fetchall(
            f"SELECT {kind.id_column}, {kind.table}.vector FROM {kind.joined} WHERE "
            f"collection_id = ? AND model_id = ? AND {_LIVE} ORDER BY {kind.id_column}",
            (collection_id, model_id),
        )
        ids = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, 0), dtype=np.float32)
        return ids, np.stack([_from_blob(r[1]) for r in rows])

    async def live_ids(self, collection_id: int, model_id: str, kind: VectorKind) -> np.ndarray:
        """Ids that the collection's index of this kind for ``model_id`` should hold."""
        rows = await self._fetchall(
            f"SELECT {kind.id_column} FROM {kind.joined} "
            f"WHERE collection_id = ? AND model_id = ? AND {_LIVE}",
            (collection_id, model_id),
        )
        return np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))

    async def vectors_by_ids(
        self, ids: Sequence[int], model_id: str, kind: VectorKind
    ) -> dict[int, np.ndarray]:
        """Vectors of one kind by id; ids without a vector of ``model_id`` are left out."""
        rows = await self._fetchall_by_ids(
            f"SELECT {kind.key}, vector FROM {kind.table} WHERE model_id = ? AND {kind.key} "
            "IN (:ids)",
            ids,
            model_id,
        )
        return {int(r[0]): _from_blob(r[1]) for r in rows}

    async def store_vectors(self, items: Sequence[EmbeddedImage], model_id: str) -> None:
        """Stores re-computed vectors of already indexed pictures (used by reindex)."""
        await self._write(
            (
                "INSERT OR REPLACE INTO vectors (image_id, model_id, vector) VALUES (?, ?, ?)",
                (item.id, model_id, _to_blob(item.vector)),
            )
            for item in items
        )

    async def drop_other_models(self, collection_id: int, model_id: str) -> None:
        """Deletes the collection's vectors (pictures and texts) of every model but ``model_id``."""
        await self._write(
            [
                (
                    "DELETE FROM vectors WHERE model_id != ? AND image_id IN "
                    "(SELECT id FROM images WHERE collection_id = ?)",
                    (model_id, collection_id),
                ),
                (
                    "DELETE FROM text_vectors WHERE model_id != ? AND text_id IN (SELECT "
                    "texts.id FROM texts JOIN images ON images.id = texts.image_id "
                    "WHERE collection_id = ?)",
                    (model_id, collection_id),
                ),
            ]
        )

    # Reading pictures

    async def images(self, ids: Sequence[int]) -> dict[int, ImageRecord]:
        """The stored facts of the given pictures, by id (missing ids are left out)."""
        rows = await self._fetchall_by_ids(
            f"SELECT {_IMAGE_COLUMNS} FROM images JOIN collections ON collections.id = "
            "images.collection_id WHERE images.id IN (:ids)",
            ids,
        )
        return {int(r[0]): ImageRecord(*r) for r in rows}

    async def reindex_targets(self, collection_id: int) -> list[tuple[int, str]]:
        """(id, source) of every indexed original picture of the collection."""
        rows = await self._fetchall(
            "SELECT id, source FROM images WHERE collection_id = ? AND status = 'indexed' "
            "AND deleted = 0 AND repost_of IS NULL ORDER BY id",
            (collection_id,),
        )
        return [(int(r[0]), str(r[1])) for r in rows]

    async def counts(self, collection_id: int, model_id: str) -> CollectionCounts:
        """How many pictures of a collection are in each state."""
        row = await self._fetchone(
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

    # Captions and tags

    async def live_originals(self, collection_id: int, ids: Sequence[int]) -> list[int]:
        """The searchable originals of the given pictures or reposts, without duplicates."""
        rows = await self._fetchall_by_ids(
            "SELECT DISTINCT originals.id FROM images AS posts JOIN images AS originals ON "
            "originals.id = coalesce(posts.repost_of, posts.id) WHERE posts.collection_id = ? "
            "AND posts.deleted = 0 AND posts.id IN (:ids) AND "
            "originals.deleted = 0 AND originals.status IN ('pending', 'indexed')",
            ids,
            collection_id,
        )
        return list(dict.fromkeys(int(r[0]) for r in rows))

    async def add_tag(
        self, collection_id: int, image_id: int, text: str, added_by: int | None
    ) -> ImageText:
        """Records a tag a person gave a picture."""
        [text_id] = await self._write(
            [
                (
                    "INSERT INTO texts (image_id, kind, text, folded, added_by, added_at) "
                    "VALUES (?, 'tag', ?, ?, ?, ?)",
                    (image_id, text, text.casefold(), added_by, time.time()),
                )
            ]
        )
        assert text_id is not None
        return ImageText(text_id, image_id, collection_id, "tag", text)

    async def texts_without_vector(self, model_id: str, limit: int) -> list[ImageText]:
        """Captions and tags of searchable pictures that ``model_id`` has not embedded yet."""
        rows = await self._fetchall(
            f"SELECT {_TEXT_COLUMNS} FROM texts JOIN images ON images.id = "
            f"texts.image_id WHERE {_LIVE} AND NOT EXISTS (SELECT 1 FROM text_vectors "
            "WHERE text_id = texts.id AND model_id = ?) ORDER BY texts.id LIMIT ?",
            (model_id, limit),
        )
        return [_image_text(row) for row in rows]

    async def store_text_vectors(
        self, texts: Sequence[ImageText], vectors: np.ndarray, model_id: str
    ) -> None:
        """Stores the vectors of captions and tags."""
        await self._write(
            (
                "INSERT OR REPLACE INTO text_vectors (text_id, model_id, vector) VALUES (?, ?, ?)",
                (text.id, model_id, _to_blob(vector)),
            )
            for text, vector in zip(texts, vectors, strict=True)
        )

    async def texts(self, text_ids: Sequence[int]) -> dict[int, ImageText]:
        """Captions and tags by id (missing ids are left out)."""
        rows = await self._fetchall_by_ids(
            f"SELECT {_TEXT_COLUMNS} FROM texts JOIN images ON images.id = texts.image_id "
            "WHERE texts.id IN (:ids)",
            text_ids,
        )
        return {int(row[0]): _image_text(row) for row in rows}

    async def texts_containing(
        self, collection_ids: Sequence[int], query: str, limit: int
    ) -> list[ImageText]:
        """Captions and tags that contain the query, or that the query contains (any case).

        The contained side must be at least two characters and whole words (see
        :mod:`indexer.words`), so a short tag does not match every query. A scan of the
        collections' texts (SQLite's ``instr`` first, the word check only on its hits): fine
        for the tens of thousands of captions a group has.
        """
        names = {f"c{i}": collection_id for i, collection_id in enumerate(collection_ids)}
        rows = await self._fetchall(
            f"SELECT {_TEXT_COLUMNS} FROM texts JOIN images ON images.id = texts.image_id "
            f"WHERE images.collection_id IN ({','.join(':' + name for name in names)}) "
            f"AND {_LIVE} AND ("
            "(length(:query) >= 2 AND instr(texts.folded, :query) > 0 "
            "AND contains_words(texts.folded, :query)) OR "
            "(length(texts.folded) >= 2 AND instr(:query, texts.folded) > 0 "
            "AND contains_words(:query, texts.folded))"
            ") ORDER BY texts.id LIMIT :limit",
            {**names, "query": query.casefold(), "limit": limit},
        )
        return [_image_text(row) for row in rows]

    async def text_pairs(self, collection_id: int) -> list[tuple[str, str]]:
        """(source, caption or tag) of the collection's indexed pictures, oldest first."""
        rows = await self._fetchall(
            "SELECT images.source, texts.text FROM texts JOIN images ON images.id = "
            f"texts.image_id WHERE images.collection_id = ? AND {_LIVE} AND status = 'indexed' "
            "ORDER BY texts.id",
            (collection_id,),
        )
        return [(str(row[0]), str(row[1])) for row in rows]

    async def count_tags(self, collection_id: int) -> int:
        """Tags given to the collection's searchable pictures."""
        row = await self._fetchone(
            "SELECT count(*) FROM texts JOIN images ON images.id = texts.image_id "
            f"WHERE collection_id = ? AND kind = 'tag' AND {_LIVE}",
            (collection_id,),
        )
        return int(row[0]) if row else 0

    # Forgetting

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
        rows = await self._fetchall(
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
        for chunk in _chunks(ids, 400):
            marks = ",".join("?" * len(chunk))
            rows = await self._fetchall(
                f"SELECT id FROM images WHERE collection_id = ? AND deleted = 0 AND "
                f"(id IN ({marks}) OR repost_of IN ({marks}))",
                (collection_id, *chunk, *chunk),
            )
            forgotten += [int(r[0]) for r in rows]
        texts: list[int] = []
        statements: list[tuple[str, Sequence[Any]]] = []
        for chunk in _chunks(forgotten, 500):
            marks = ",".join("?" * len(chunk))
            rows = await self._fetchall(
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
        await self._write(statements)
        return Forgotten(images=forgotten, texts=texts)

    async def set_opted_out(self, collection_id: int, poster_id: int, opted_out: bool) -> None:
        """Records whether a person's pictures may be indexed in the collection."""
        sql = (
            "INSERT OR IGNORE INTO opted_out (collection_id, poster_id) VALUES (?, ?)"
            if opted_out
            else "DELETE FROM opted_out WHERE collection_id = ? AND poster_id = ?"
        )
        await self._write([(sql, (collection_id, poster_id))])

    async def is_opted_out(self, collection_id: int, poster_id: int) -> bool:
        """Whether the person asked not to have their pictures indexed in the collection."""
        row = await self._fetchone(
            "SELECT 1 FROM opted_out WHERE collection_id = ? AND poster_id = ?",
            (collection_id, poster_id),
        )
        return row is not None


def _contains_words(text: str | None, part: str | None) -> bool:
    return text is not None and part is not None and contains_words(text, part)


def _casefold(text: str | None) -> str | None:
    return None if text is None else text.casefold()


def _image_text(row: aiosqlite.Row) -> ImageText:
    return ImageText(int(row[0]), int(row[1]), int(row[2]), row[3], str(row[4]))


def _to_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def _from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    """Splits id lists so that no statement exceeds SQLite's parameter limit."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
