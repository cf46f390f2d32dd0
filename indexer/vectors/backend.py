"""The vector stores the service can run on, behind one interface.

FAISS (:class:`~indexer.vectors.faiss_backend.FaissBackend`) keeps each collection's index in
this process's memory and in files beside the database: the right choice up to a few million
pictures on one machine. Milvus (:class:`~indexer.vectors.milvus_backend.MilvusBackend`) keeps
the vectors in a Milvus server or cluster, for when one machine's memory is not enough (see
docs/SCALING.md). Either way SQLite stays the source of truth, so the store can be checked
against it at start-up and repaired from it without running the model.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

import numpy as np

from indexer.config import IndexerConfig
from indexer.records import VectorKind
from indexer.store.vectors import Vectors
from indexer.vectors.faiss_backend import FaissBackend
from indexer.vectors.faiss_files import FaissFiles
from indexer.vectors.faiss_index import IndexPolicy


class IndexEditor(Protocol):
    """Changes to one collection's vectors, made while its lock is held."""

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> object: ...


class VectorBackend(Protocol):
    """One kind of vector (pictures, captions and tags, or clips' frames) of every collection,
    for one model."""

    def editing(self, collection_id: int) -> AbstractAsyncContextManager[IndexEditor]:
        """Holds the collection's lock; the changes are visible to searches once it is left."""
        ...

    async def search(
        self, collection_id: int, queries: np.ndarray, k: int, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query row, best first; missing results have id -1.

        With ``among``, only those ids are ranked (a filtered search): ``k`` of them come back
        whenever the collection holds ``k`` of them, not ``k`` ranked and then filtered."""
        ...

    async def describe(self, collection_id: int) -> tuple[str, int, int]:
        """(index type, number of vectors, bytes on this machine's disk) of a collection."""
        ...

    async def load_all(self, collection_ids: list[int]) -> None:
        """Checks the stored vectors of every collection against SQLite and repairs them."""
        ...

    async def rebuild(self, collection_id: int) -> None:
        """Makes the collection hold exactly the vectors SQLite has now (after a reindex)."""
        ...

    async def delete_other_models(self, collection_id: int) -> None:
        """Drops the collection's vectors of models other than the current one."""
        ...

    def grow_if_needed(self, collection_id: int) -> None:
        """Starts moving a grown collection to a larger index layout, if the store needs it."""
        ...

    async def wait_growth(self) -> None:
        """Waits for layout changes in progress."""
        ...

    async def save_due(self, force: bool = False) -> None:
        """Persists or re-sends what is pending; called by the worker now and then."""
        ...

    async def close(self) -> None:
        """Stops background work and releases connections."""
        ...


#: How the files (FAISS) or collections (Milvus) of each kind of vector are named.
_PREFIXES: dict[VectorKind, str] = {"pictures": "collection", "texts": "texts", "frames": "frames"}


def index_prefix(kind: VectorKind) -> str:
    """How the files (FAISS) or collections (Milvus) of one kind of vector are named."""
    return _PREFIXES[kind]


def faiss_files(config: IndexerConfig, kind: VectorKind) -> FaissFiles:
    """The FAISS files of ``kind`` in the data folder, for ``check`` (which needs no model)."""
    return FaissFiles(config.storage.data_dir / "faiss", index_prefix(kind))


async def open_backend(
    config: IndexerConfig, vectors: Vectors, kind: VectorKind, model_id: str, dim: int
) -> VectorBackend:
    """The configured vector store for ``kind``; Milvus is imported only when chosen."""
    prefix = index_prefix(kind)
    if config.index.backend == "milvus":
        from indexer.vectors.milvus_backend import MilvusBackend

        return await MilvusBackend.open(config.index.milvus, vectors, kind, prefix, model_id, dim)

    return FaissBackend(
        vectors,
        kind,
        faiss_files(config, kind),
        IndexPolicy(flat_max=config.index.flat_max),
        model_id,
        dim,
        config.index.save_interval_seconds,
    )
