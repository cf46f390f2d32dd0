"""FAISS indexes, one per collection and model, kept as files that can always be rebuilt.

Ids in FAISS are the SQLite image ids, scores are inner products of L2-normalised vectors
(cosine similarity). A collection starts with an exact ``Flat`` index; once it holds more than
``flat_max`` pictures it moves to an inverted-file index with 8-bit scalar quantisation
(``IVF{nlist},SQ8``), sized like autofaiss does: about ``4·√n`` lists, at least 39 training points
per list. Both kinds can delete ids, which ``/forget`` needs at once.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from indexer.atomic import atomic_file

log = logging.getLogger(__name__)

#: faiss warns below this many training points per inverted list.
_MIN_POINTS_PER_LIST = 39
#: Fewer lists than this would make IVF no faster than exact search.
_MIN_LISTS = 4


@dataclass(frozen=True)
class IndexLayout:
    """The shape of a FAISS index: exact (``nlist == 0``) or IVF with ``nlist`` lists."""

    nlist: int = 0

    @property
    def is_exact(self) -> bool:
        return self.nlist == 0

    @property
    def nprobe(self) -> int:
        """Lists visited per query: enough for recall@10 ≥ 0.95 on clustered photo vectors."""
        return min(self.nlist, max(8, math.ceil(2 * math.sqrt(self.nlist))))

    @property
    def name(self) -> str:
        return "Flat" if self.is_exact else f"IVF{self.nlist},SQ8"


@dataclass(frozen=True)
class IndexPolicy:
    """Chooses the index layout from the collection size."""

    flat_max: int

    def layout_for(self, count: int) -> IndexLayout:
        """Exact search up to ``flat_max`` pictures, then IVF sized for ``count``.

        IVF also needs enough pictures to train at least a few lists (156 with the defaults).
        """
        by_size = 2 ** round(math.log2(4 * math.sqrt(max(1, count))))
        by_training = 2 ** math.floor(math.log2(max(1, count // _MIN_POINTS_PER_LIST)))
        nlist = min(by_size, by_training)
        if count <= self.flat_max or nlist < _MIN_LISTS:
            return IndexLayout()
        return IndexLayout(nlist=nlist)

    def needs_rebuild(self, current: IndexLayout, count: int) -> bool:
        """Whether the collection grew (or shrank) out of its current layout.

        An IVF index is retrained only when the ideal number of lists is 4× away from the
        current one, so a growing collection is rebuilt a logarithmic number of times.
        """
        wanted = self.layout_for(count)
        if wanted.is_exact or current.is_exact:
            return wanted.is_exact != current.is_exact
        return wanted.nlist >= 4 * current.nlist or 4 * wanted.nlist <= current.nlist


class VectorIndex:
    """One collection's FAISS index; not thread-safe, the caller serialises access."""

    def __init__(self, index: faiss.Index, layout: IndexLayout) -> None:
        self._index = index
        self.layout = layout
        if not layout.is_exact:
            faiss.extract_index_ivf(index).nprobe = layout.nprobe

    @classmethod
    def build(
        cls, ids: np.ndarray, vectors: np.ndarray, layout: IndexLayout, dim: int
    ) -> VectorIndex:
        """Creates an index of ``layout`` holding ``vectors`` under ``ids`` (trains IVF on them)."""
        if layout.is_exact:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        else:
            index = faiss.index_factory(dim, layout.name, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors)
            index.set_direct_map_type(faiss.DirectMap.Hashtable)
        built = cls(index, layout)
        built.add(ids, vectors)
        return built

    @classmethod
    def from_bytes(cls, data: bytes) -> VectorIndex:
        """Restores an index written by :meth:`to_bytes`; raises RuntimeError if corrupt."""
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if isinstance(index, faiss.IndexIDMap2):
            return cls(index, IndexLayout())
        return cls(index, IndexLayout(nlist=faiss.extract_index_ivf(index).nlist))

    def to_bytes(self) -> bytes:
        return faiss.serialize_index(self._index).tobytes()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )

    def remove(self, ids: np.ndarray) -> int:
        """Removes ids from search at once; returns how many were present."""
        if not len(ids):
            return 0
        return int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query; missing results have id -1."""
        k = max(1, min(k, len(self)))
        scores, ids = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids

    def ids(self) -> np.ndarray:
        """Every id the index holds (used to check it against SQLite)."""
        if self.layout.is_exact:
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        invlists = faiss.extract_index_ivf(self._index).invlists
        parts = [
            faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
            for i in range(invlists.nlist)
            if invlists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


class VectorStore:
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
        """The saved index, or None if it is missing or unreadable (the caller rebuilds it)."""
        path = self.path(collection_id, model_id)
        if not path.exists():
            return None
        try:
            return VectorIndex.from_bytes(path.read_bytes())
        except (RuntimeError, ValueError) as exc:
            log.warning("FAISS file %s is unreadable (%s); it will be rebuilt", path, exc)
            return None

    def save(self, collection_id: int, model_id: str, index: VectorIndex) -> None:
        """Writes atomically: a crash leaves either the old file or the new one, never half."""
        with atomic_file(self.path(collection_id, model_id)) as (handle, _):
            handle.write(index.to_bytes())

    def size_on_disk(self, collection_id: int, model_id: str) -> int:
        path = self.path(collection_id, model_id)
        return path.stat().st_size if path.exists() else 0

    def delete_other_models(self, collection_id: int, model_id: str) -> None:
        """Removes the collection's files of other models once a reindex replaced them."""
        keep = self.path(collection_id, model_id)
        for path in self._directory.glob(f"{self._prefix}-{collection_id}--*.faiss"):
            if path != keep:
                path.unlink(missing_ok=True)
