"""The stored vectors of pictures, of their captions and tags, and of clips' frames, one row
per model.

These rows are what every vector index (FAISS or Milvus) is built and repaired from, so an
index can always be rebuilt without running the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from indexer.records import EmbeddedImage, VectorKind
from indexer.store.database import LIVE, Database, Statement, from_blob, to_blob


@dataclass(frozen=True)
class _Table:
    """Where one kind of vector is stored.

    ``joined`` reaches the ``images`` row the vector belongs to, so every kind shares one
    definition of a searchable picture; ``owner_kept`` is true (for the id given as its one
    parameter) while that picture is not forgotten.
    """

    table: str
    key: str
    id_column: str
    joined: str
    owner_kept: str


_TABLES: dict[VectorKind, _Table] = {
    "pictures": _Table(
        table="vectors",
        key="image_id",
        id_column="images.id",
        joined="images JOIN vectors ON vectors.image_id = images.id",
        owner_kept="EXISTS (SELECT 1 FROM images WHERE id = ? AND deleted = 0)",
    ),
    "texts": _Table(
        table="text_vectors",
        key="text_id",
        id_column="texts.id",
        joined="texts JOIN text_vectors ON text_vectors.text_id = texts.id "
        "JOIN images ON images.id = texts.image_id",
        owner_kept="EXISTS (SELECT 1 FROM texts JOIN images ON images.id = texts.image_id "
        "WHERE texts.id = ? AND deleted = 0)",
    ),
    "frames": _Table(
        table="clip_frames",
        key="id",
        id_column="clip_frames.id",
        joined="images JOIN clip_frames ON clip_frames.image_id = images.id",
        owner_kept="EXISTS (SELECT 1 FROM clip_frames JOIN images ON images.id = "
        "clip_frames.image_id WHERE clip_frames.id = ? AND deleted = 0)",
    ),
}


def frame_statements(item: EmbeddedImage, model_id: str) -> list[Statement]:
    """Replaces a picture's clip frames of ``model_id`` by ``item.frames`` (none: a still),
    unless the picture was forgotten: part of the transaction that stores its vector."""
    statements: list[Statement] = [
        ("DELETE FROM clip_frames WHERE image_id = ? AND model_id = ?", (item.id, model_id))
    ]
    statements += [
        (
            "INSERT INTO clip_frames (image_id, model_id, position, seconds, vector) "
            "SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM images WHERE id = ? AND deleted = 0)",
            (item.id, model_id, position, frame.seconds, to_blob(frame.vector), item.id),
        )
        for position, frame in enumerate(item.frames)
    ]
    return statements


class Vectors:
    """The ``vectors`` (pictures), ``text_vectors`` (captions and tags) and ``clip_frames``
    (each frame of a clip) tables."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def vectors(
        self, collection_id: int, model_id: str, kind: VectorKind
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ids and vectors of one kind for the collection's searchable pictures."""
        t = _TABLES[kind]
        rows = await self._db.fetchall(
            f"SELECT {t.id_column}, {t.table}.vector FROM {t.joined} WHERE "
            f"collection_id = ? AND model_id = ? AND {LIVE} ORDER BY {t.id_column}",
            (collection_id, model_id),
        )
        ids = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, 0), dtype=np.float32)
        return ids, np.stack([from_blob(r[1]) for r in rows])

    async def live_ids(self, collection_id: int, model_id: str, kind: VectorKind) -> np.ndarray:
        """Ids that the collection's index of this kind for ``model_id`` should hold."""
        t = _TABLES[kind]
        rows = await self._db.fetchall(
            f"SELECT {t.id_column} FROM {t.joined} "
            f"WHERE collection_id = ? AND model_id = ? AND {LIVE}",
            (collection_id, model_id),
        )
        return np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))

    async def count_live(self, collection_id: int, model_id: str, kind: VectorKind) -> int:
        """How many ids the collection's index of this kind for ``model_id`` should hold."""
        t = _TABLES[kind]
        row = await self._db.fetchone(
            f"SELECT count(*) FROM {t.joined} WHERE collection_id = ? AND model_id = ? AND {LIVE}",
            (collection_id, model_id),
        )
        return int(row[0]) if row else 0

    async def vectors_by_ids(
        self, ids: Sequence[int], model_id: str, kind: VectorKind
    ) -> dict[int, np.ndarray]:
        """Vectors of one kind by id; ids without a vector of ``model_id`` are left out."""
        t = _TABLES[kind]
        rows = await self._db.fetchall_by_ids(
            f"SELECT {t.key}, vector FROM {t.table} WHERE model_id = ? AND {t.key} IN (:ids)",
            ids,
            model_id,
        )
        return {int(r[0]): from_blob(r[1]) for r in rows}

    async def store(
        self,
        kind: VectorKind,
        ids: Sequence[int],
        vectors: Sequence[np.ndarray],
        model_id: str,
        *,
        replace: bool = True,
    ) -> list[int]:
        """Stores vectors of ``kind`` by id (re-embedded pictures, new captions and tags).

        Returns the ids stored. A vector whose picture was forgotten meanwhile is not stored
        (the condition is in the same statement), and with ``replace=False`` neither is one
        that already has a vector of ``model_id``: two writers that embedded the same new tag
        add it to the index once.
        """
        t = _TABLES[kind]
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        written = await self._db.write(
            (
                f"{verb} INTO {t.table} ({t.key}, model_id, vector) SELECT ?, ?, ? "
                f"WHERE {t.owner_kept}",
                (item_id, model_id, to_blob(vector), item_id),
            )
            for item_id, vector in zip(ids, vectors, strict=True)
        )
        return [item_id for item_id, row in zip(ids, written, strict=True) if row.changed]

    async def frames(
        self, image_ids: Sequence[int], model_id: str
    ) -> dict[int, tuple[list[float], np.ndarray]]:
        """The frames of the clips among ``image_ids``: (moments, vectors) by id, in order."""
        rows = await self._db.fetchall_by_ids(
            "SELECT image_id, seconds, vector FROM clip_frames WHERE model_id = ? AND "
            "image_id IN (:ids) ORDER BY image_id, position",
            image_ids,
            model_id,
        )
        frames: dict[int, tuple[list[float], list[np.ndarray]]] = {}
        for image_id, seconds, vector in rows:
            moments, vectors = frames.setdefault(int(image_id), ([], []))
            moments.append(float(seconds))
            vectors.append(from_blob(vector))
        return {i: (moments, np.stack(vectors)) for i, (moments, vectors) in frames.items()}

    async def frame_vectors(
        self, image_ids: Sequence[int], model_id: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Ids and vectors of the frames of the clips among ``image_ids`` (for the frame index)."""
        rows = await self._db.fetchall_by_ids(
            "SELECT id, vector FROM clip_frames WHERE model_id = ? AND image_id IN (:ids) "
            "ORDER BY id",
            image_ids,
            model_id,
        )
        ids = np.fromiter((int(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        if not rows:
            return ids, np.zeros((0, 0), dtype=np.float32)
        return ids, np.stack([from_blob(r[1]) for r in rows])

    async def clips_of_frames(self, frame_ids: Sequence[int]) -> dict[int, int]:
        """The clip (picture id) of each frame id; frames that are gone are left out."""
        rows = await self._db.fetchall_by_ids(
            "SELECT id, image_id FROM clip_frames WHERE id IN (:ids)", frame_ids
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def store_pictures(self, embedded: Sequence[EmbeddedImage], model_id: str) -> None:
        """Stores re-embedded pictures' vectors (and clips' frames) of ``model_id``, each only
        while its picture is not forgotten (a reindex)."""
        statements: list[Statement] = []
        for item in embedded:
            statements.append(
                (
                    "INSERT OR REPLACE INTO vectors (image_id, model_id, vector) SELECT ?, ?, ? "
                    "WHERE EXISTS (SELECT 1 FROM images WHERE id = ? AND deleted = 0)",
                    (item.id, model_id, to_blob(item.vector), item.id),
                )
            )
            statements += frame_statements(item, model_id)
        await self._db.write(statements)

    async def drop_other_models(self, collection_id: int, model_id: str) -> None:
        """Deletes the collection's vectors (pictures and texts) of every model but ``model_id``."""
        await self._db.write(
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
                (
                    "DELETE FROM clip_frames WHERE model_id != ? AND image_id IN "
                    "(SELECT id FROM images WHERE collection_id = ?)",
                    (model_id, collection_id),
                ),
            ]
        )
