"""FAISS files on disk: one per collection, model and kind of index, each written atomically
with a checksum of its contents, so a crash leaves the old file or the new one and damage is
found on load (the caller then rebuilds it from SQLite)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from pathlib import Path

import numpy as np

from indexer.atomic import atomic_file
from indexer.errors import StorageError
from indexer.vectors.faiss_index import IndexPolicy, VectorIndex

log = logging.getLogger(__name__)

#: A save's temporary file untouched this long belongs to no live writer: a kill left it. (A
#: save writes continuously; the largest index here is written in well under a minute.)
LEFTOVER_AGE_SECONDS = 15 * 60.0

#: The first bytes of a FAISS file written by :meth:`FaissFiles.save`; a SHA-256 digest of
#: the FAISS contents follows, then the contents.
_MAGIC = b"clip-search-bot faiss v1\n"


def checked_contents(data: bytes) -> bytes:
    """The FAISS contents of a saved file; ValueError if its checksum does not match."""
    if not data.startswith(_MAGIC):
        raise ValueError("written without a checksum")
    digest, contents = data[len(_MAGIC) : len(_MAGIC) + 32], data[len(_MAGIC) + 32 :]
    if hashlib.sha256(contents).digest() != digest:
        raise ValueError("its checksum does not match its contents")
    return contents


class FaissFiles:
    """A folder of FAISS files, named by collection and model so models never mix.

    ``prefix`` tells apart the kinds of index kept in one folder (pictures, captions and tags).
    """

    def __init__(self, directory: Path, prefix: str = "collection") -> None:
        self._directory = directory
        self._prefix = prefix
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, collection_id: int, model_id: str) -> Path:
        model_tag = "".join(c if c.isalnum() or c in "-_." else "_" for c in model_id)[-80:]
        return self._directory / f"{self._prefix}-{collection_id}--{model_tag}.faiss"

    def load(self, collection_id: int, model_id: str) -> VectorIndex | None:
        """The saved index, or None if it is missing or damaged (the caller rebuilds it).

        A file is damaged when it cannot be read or parsed, or when its contents no longer
        match the checksum saved with them (one flipped float or id is enough): FAISS itself
        would load such a file and return wrong scores or wrong pictures.
        """
        index, damage = self._read(collection_id, model_id)
        if damage is not None:
            log.warning(
                "FAISS file %s is damaged (%s); it will be rebuilt from SQLite",
                self.path(collection_id, model_id),
                damage,
            )
        return index

    def _read(self, collection_id: int, model_id: str) -> tuple[VectorIndex | None, str | None]:
        """(the saved index or None, why it is damaged or None), without logging."""
        path = self.path(collection_id, model_id)
        if not path.exists():
            return None, None
        try:
            return VectorIndex.from_bytes(checked_contents(path.read_bytes())), None
        except (OSError, RuntimeError, ValueError) as exc:
            return None, str(exc)

    def save(self, collection_id: int, model_id: str, index: VectorIndex) -> None:
        """Writes an index no other thread is changing (see :meth:`write`)."""
        self.write(collection_id, model_id, index.to_bytes())

    def write(self, collection_id: int, model_id: str, contents: bytes) -> None:
        """Writes a serialised index (:meth:`VectorIndex.to_bytes`) atomically, with a checksum
        of the contents in the same file: a crash leaves either the old file or the new one,
        never half, and damage is detected.

        Raises StorageError if the file cannot be written (a full disk): nothing is lost,
        SQLite has every vector and the file is rebuilt from it at the next start.
        """
        path = self.path(collection_id, model_id)
        try:
            with atomic_file(path) as (handle, _):
                handle.write(_MAGIC + hashlib.sha256(contents).digest() + contents)
        except OSError as exc:
            raise StorageError(
                f"cannot save the FAISS index {path}: {exc.strerror or exc}; free space there "
                "(nothing is lost: it is rebuilt from index.sqlite3 at the next start)"
            ) from exc

    def disagreement(self, collection_id: int, model_id: str, ids: np.ndarray) -> str | None:
        """Why the saved file disagrees with SQLite's searchable ``ids`` (sorted), or None."""
        path = self.path(collection_id, model_id)
        if not path.exists():
            return "is missing" if len(ids) else None
        index, damage = self._read(collection_id, model_id)
        if index is None:
            return f"is damaged ({damage})"
        if not np.array_equal(np.sort(index.ids()), ids):
            return f"holds {len(index)} ids where SQLite has {len(ids)} searchable ones"
        return None

    def rebuild(
        self, collection_id: int, model_id: str, ids: np.ndarray, vectors: np.ndarray, flat_max: int
    ) -> None:
        """Writes the file anew from SQLite's vectors (none: the file is removed)."""
        if not len(ids):
            self.path(collection_id, model_id).unlink(missing_ok=True)
            return
        layout = IndexPolicy(flat_max=flat_max).layout_for(len(ids))
        self.save(
            collection_id, model_id, VectorIndex.build(ids, vectors, layout, vectors.shape[1])
        )

    def leftovers(self, older_than_seconds: float = LEFTOVER_AGE_SECONDS) -> list[Path]:
        """The temporary files of saves that a kill cut short.

        :func:`~indexer.atomic.atomic_file` writes ``.<name>.<random>.tmp`` beside the file and
        renames it when whole; a process killed before the rename leaves it behind for good.
        Only files untouched for ``older_than_seconds`` count: another process (the CLI beside
        the bot) may be writing one right now.
        """
        cutoff = time.time() - older_than_seconds
        found = []
        for path in self._directory.glob(f".{self._prefix}-*.faiss.*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    found.append(path)
        return sorted(found)

    def remove_leftovers(self) -> list[Path]:
        """Deletes :meth:`leftovers`; returns what it deleted."""
        removed = self.leftovers()
        for path in removed:
            path.unlink(missing_ok=True)
        return removed

    def size_on_disk(self, collection_id: int, model_id: str) -> int:
        path = self.path(collection_id, model_id)
        return path.stat().st_size if path.exists() else 0

    def delete_other_models(self, collection_id: int, model_id: str) -> None:
        """Removes the collection's files of other models once a reindex replaced them."""
        keep = self.path(collection_id, model_id)
        for path in self._directory.glob(f"{self._prefix}-{collection_id}--*.faiss"):
            if path != keep:
                path.unlink(missing_ok=True)
