"""FAISS indexes, one per collection and model, kept as files that can always be rebuilt.

Ids in FAISS are the SQLite image ids, scores are inner products of L2-normalised vectors
(cosine similarity). A collection starts with an exact ``Flat`` index; once it holds more than
``flat_max`` pictures it moves to an inverted-file index with 8-bit scalar quantisation
(``IVF{nlist},SQ8``), sized like autofaiss does: about ``4·√n`` lists, at least 39 training points
per list. Both kinds can delete ids, which ``/forget`` needs at once.

How many lists an IVF query visits (``nprobe``) is calibrated when the index is built: a sample
of the collection's own vectors is searched at growing ``nprobe`` until recall@10 against exact
search reaches :data:`RECALL_TARGET`, within a latency budget (:data:`SCAN_BUDGET_BYTES`). FAISS
saves ``nprobe`` in the index file, so the calibrated value survives a restart.

Length (over ~350 lines, on purpose): the layout policy, ``nprobe`` calibration and the index
wrapper all reach into the same FAISS IVF internals; split, they would pass those around.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import faiss
import numpy as np

log = logging.getLogger(__name__)

#: faiss warns below this many training points per inverted list.
_MIN_POINTS_PER_LIST = 39
#: Fewer lists than this would make IVF no faster than exact search.
_MIN_LISTS = 4

#: Recall@10 against exact search that the calibrated ``nprobe`` must reach.
RECALL_TARGET = 0.97
#: Results per query whose recall calibration measures (recall@10).
CALIBRATION_K = 10
#: Stored vectors searched as queries by the calibration (fewer if the index is smaller).
CALIBRATION_QUERIES = 256
#: The latency budget, as bytes of SQ8 codes one query may scan on average (one byte per
#: dimension per vector). On the reference machine (2 shared cores) a query costs ≈ 45 ns per
#: 512-d code scanned (≈ 11 GB/s), so 16 MiB (32 768 codes) is ≈ 1.5 ms, which leaves room for
#: the coarse quantiser (≈ 0.1 ms at 4096 lists) under the 2 ms p50 target. Calibration turns
#: it into a maximum ``nprobe`` per index from the sizes of the lists its queries visit.
SCAN_BUDGET_BYTES = 16 * 2**20
#: How far past the range of its training vectors each dimension's 8-bit codes reach, as a
#: share of that range on each side. An IVF index is trained on the pictures a collection had
#: when it moved to IVF; later pictures outside that range were clipped, their scores off by up
#: to ~0.12 and their neighbours missed (recall@10 0.92 at 166 training vectors, 0.98 with this
#: margin; at 1000 the margin changes nothing). tests/test_ivf_codes.py measures it.
SQ8_RANGE_MARGIN = 0.2


def default_nprobe(nlist: int) -> int:
    """``nprobe`` of an IVF index that was not calibrated (the rule used before calibration)."""
    return min(nlist, max(8, math.ceil(2 * math.sqrt(nlist))))


@dataclass(frozen=True)
class IndexLayout:
    """The shape of a FAISS index: exact (``nlist == 0``) or IVF with ``nlist`` lists, of which
    a query visits ``nprobe``.

    ``nprobe`` left at 0 means :func:`default_nprobe`; :meth:`VectorIndex.build` replaces it
    with a calibrated value, and a loaded index keeps the value saved in its file.
    """

    nlist: int = 0
    nprobe: int = 0

    def __post_init__(self) -> None:
        if self.nlist == 0:
            object.__setattr__(self, "nprobe", 0)
        elif self.nprobe <= 0:
            object.__setattr__(self, "nprobe", default_nprobe(self.nlist))
        else:
            object.__setattr__(self, "nprobe", min(self.nprobe, self.nlist))

    @property
    def is_exact(self) -> bool:
        return self.nlist == 0

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

        A growing IVF index is rebuilt (and its ``nprobe`` recalibrated) as soon as the ideal
        number of lists doubles, i.e. every time the collection grows about fourfold: with
        lists any longer, the calibrated ``nprobe`` would scan past the latency budget
        (measured in docs/BENCHMARKS.md). That is a logarithmic number of rebuilds, costing
        about a third of the last one in total. Shrinking rebuilds only at 4×, so a collection
        near a boundary does not flip back and forth.
        """
        wanted = self.layout_for(count)
        if wanted.is_exact or current.is_exact:
            return wanted.is_exact != current.is_exact
        return wanted.nlist >= 2 * current.nlist or 4 * wanted.nlist <= current.nlist


def trained_ivf(layout: IndexLayout, dim: int, training: np.ndarray) -> faiss.Index:
    """An empty ``layout`` IVF index trained on ``training``: its lists, and its 8-bit code
    range with :data:`SQ8_RANGE_MARGIN` to spare; ids can be deleted at once (``/forget``)."""
    index = faiss.index_factory(dim, layout.name, faiss.METRIC_INNER_PRODUCT)
    faiss.downcast_index(index).sq.rangestat_arg = SQ8_RANGE_MARGIN
    index.train(training)
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    return index


@dataclass(frozen=True)
class NprobeCalibration:
    """What :meth:`VectorIndex.calibrate` chose and measured."""

    nprobe: int
    #: Recall@k of the calibration queries at ``nprobe``.
    recall: float
    #: The cap that applied: the latency budget's, or the caller's if lower; ``capped`` when
    #: the target was not reached within it.
    max_nprobe: int
    capped: bool
    #: Mean bytes of codes a calibration query scans at ``nprobe`` (the latency proxy).
    scanned_bytes: float
    #: Recall@k at each ``nprobe`` tried, in order.
    tried: tuple[tuple[int, float], ...]
    seconds: float


def _nprobe_ladder(max_nprobe: int) -> list[int]:
    """1, 2, 4, … below ``max_nprobe``, then ``max_nprobe`` itself."""
    ladder = [1 << i for i in range(max(1, max_nprobe).bit_length()) if 1 << i < max_nprobe]
    return [*ladder, max(1, max_nprobe)]


def _scanned_bytes(ivf: faiss.IndexIVF, queries: np.ndarray, dim: int) -> np.ndarray:
    """Mean bytes of codes a query scans at ``nprobe`` = 1 … nlist (entry ``nprobe - 1``)."""
    _, lists = ivf.quantizer.search(queries, ivf.nlist)
    sizes = np.array([ivf.invlists.list_size(i) for i in range(ivf.nlist)], dtype=np.float64)
    return np.cumsum(sizes[np.maximum(lists, 0)], axis=1).mean(axis=0) * dim


def _without_self(found: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` ids of each row of ``found`` other than the row's own id (or -1)."""
    rows = np.full((len(found), k), -1, dtype=np.int64)
    for row, (ids, query_id) in enumerate(zip(found, own, strict=True)):
        kept = ids[(ids != query_id) & (ids >= 0)][:k]
        rows[row, : len(kept)] = kept
    return rows


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    per_query = [
        len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist())) / max(1, int((t >= 0).sum()))
        for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(per_query))


#: Ids below this are selected through a bitmap (at most 16 MiB), above it through a hash set.
BITMAP_IDS = 2**27


def id_selector(ids: np.ndarray) -> faiss.IDSelector:
    """A FAISS selector of ``ids`` (non-negative): a bitmap, one bit per id up to the largest,
    whose membership test is one memory read (searching 1M vectors among 10,000 of them:
    docs/BENCHMARKS.md), or past :data:`BITMAP_IDS` a hash set (``IDSelectorBatch``).

    The selector keeps references to its parts and bitmap, which FAISS uses but does not own.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if not len(ids) or int(ids.max()) >= BITMAP_IDS:
        return faiss.IDSelectorBatch(np.ascontiguousarray(ids))
    present = np.zeros(int(ids.max()) + 1, dtype=bool)
    present[ids] = True
    bitmap = np.packbits(present, bitorder="little")
    in_bitmap = faiss.IDSelectorBitmap(len(present), faiss.swig_ptr(bitmap))
    # FAISS reads the bitmap without checking its length: ids past it are tested first.
    in_range = faiss.IDSelectorRange(0, len(present))
    selector = faiss.IDSelectorAnd(in_range, in_bitmap)
    selector.parts = (in_range, in_bitmap, bitmap)
    return selector


class VectorIndex:
    """One collection's FAISS index.

    Many threads may search or serialise it at once, but none while it changes (``add``,
    ``remove``, ``calibrate``, ``set_nprobe``): the caller keeps them apart.
    """

    def __init__(self, index: faiss.Index, layout: IndexLayout) -> None:
        """Wraps ``index``; an IVF index is set to visit ``layout.nprobe`` lists per query."""
        self._index = index
        self.layout = layout
        #: Set by :meth:`calibrate` (not saved: a loaded index has only the chosen ``nprobe``).
        self.calibration: NprobeCalibration | None = None
        if not layout.is_exact:
            faiss.extract_index_ivf(index).nprobe = layout.nprobe

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        layout: IndexLayout,
        dim: int,
        *,
        recall_target: float = RECALL_TARGET,
        max_nprobe: int | None = None,
    ) -> VectorIndex:
        """Creates an index of ``layout`` holding ``vectors`` under ``ids``.

        IVF is trained on the vectors, then its ``nprobe`` is calibrated on them (see
        :meth:`calibrate`); ``layout.nprobe`` is only the starting value.
        """
        if layout.is_exact:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        else:
            index = trained_ivf(layout, dim, vectors)
        built = cls(index, layout)
        built.add(ids, vectors)
        if not layout.is_exact and len(ids):
            built.calibrate(ids, vectors, recall_target=recall_target, max_nprobe=max_nprobe)
        return built

    def calibrate(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        recall_target: float = RECALL_TARGET,
        max_nprobe: int | None = None,
        queries: int = CALIBRATION_QUERIES,
        k: int = CALIBRATION_K,
        seed: int = 0,
    ) -> NprobeCalibration:
        """Sets the smallest ``nprobe`` whose recall@k reaches ``recall_target``.

        ``ids`` and ``vectors`` are what the index holds. A random sample of them is searched,
        each query leaving its own id out of both the exact and the approximate results, so it
        stands for a new picture of the same collection rather than one that finds itself in
        the first list it visits. ``nprobe`` climbs 1, 2, 4, … up to a cap: the largest
        ``nprobe`` at which these queries scan at most :data:`SCAN_BUDGET_BYTES` of codes on
        average (the latency budget, counted from the sizes of the lists they visit), or
        ``max_nprobe`` if lower. If the cap is reached first, it is used and a warning says so:
        then the layout, not ``nprobe``, has to change.
        """
        if self.layout.is_exact:
            raise ValueError("only an IVF index has an nprobe to calibrate")
        started = time.perf_counter()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        ivf = faiss.extract_index_ivf(self._index)
        k = max(1, min(k, len(ids) - 1))
        rng = np.random.default_rng(seed)
        sample = rng.choice(len(ids), size=min(queries, len(ids)), replace=False)
        own = ids[sample]
        scanned = _scanned_bytes(ivf, vectors[sample], self.dim)
        cap = max(1, int(np.searchsorted(scanned, SCAN_BUDGET_BYTES, side="right")))
        cap = min(cap, max_nprobe or cap)
        _, exact = faiss.knn(vectors[sample], vectors, k + 1, faiss.METRIC_INNER_PRODUCT)
        truth = _without_self(ids[exact], own, k)
        tried: list[tuple[int, float]] = []
        for nprobe in _nprobe_ladder(cap):
            ivf.nprobe = nprobe
            _, found = self._index.search(vectors[sample], k + 1)
            tried.append((nprobe, _recall(_without_self(found, own, k), truth)))
            if tried[-1][1] >= recall_target:
                break
        nprobe, recall = tried[-1]
        capped = recall < recall_target
        ivf.nprobe = nprobe
        self.layout = IndexLayout(nlist=self.layout.nlist, nprobe=nprobe)
        self.calibration = NprobeCalibration(
            nprobe,
            recall,
            cap,
            capped,
            float(scanned[nprobe - 1]),
            tuple(tried),
            time.perf_counter() - started,
        )
        if capped:
            log.warning(
                "%s over %d vectors: recall@%d reaches only %.3f (target %.2f) at nprobe %d, "
                "the most the latency budget allows; the index layout needs to change",
                self.layout.name,
                len(ids),
                k,
                recall,
                recall_target,
                nprobe,
            )
        else:
            log.info(
                "%s over %d vectors: nprobe %d gives recall@%d %.3f (target %.2f, cap %d; %.1f s)",
                self.layout.name,
                len(ids),
                nprobe,
                k,
                recall,
                recall_target,
                cap,
                self.calibration.seconds,
            )
        return self.calibration

    def set_nprobe(self, nprobe: int) -> None:
        """Probes ``nprobe`` lists per query from now on, whatever calibration chose (IVF
        only): benchmarks sweep it to show what the calibrated value buys."""
        if self.layout.is_exact:
            raise ValueError("only an IVF index has an nprobe to set")
        faiss.extract_index_ivf(self._index).nprobe = nprobe

    def scanned_bytes(self, queries: np.ndarray) -> np.ndarray:
        """Mean bytes of codes a query scans at ``nprobe`` = 1 … nlist (entry ``nprobe - 1``);
        IVF only. Calibration caps ``nprobe`` by it; benchmarks report it."""
        return _scanned_bytes(faiss.extract_index_ivf(self._index), queries, self.dim)

    @classmethod
    def from_bytes(cls, data: bytes) -> VectorIndex:
        """Restores an index written by :meth:`to_bytes`, with the ``nprobe`` saved in it;
        raises RuntimeError if corrupt."""
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if isinstance(index, faiss.IndexIDMap2):
            return cls(index, IndexLayout())
        ivf = faiss.extract_index_ivf(index)
        return cls(index, IndexLayout(nlist=ivf.nlist, nprobe=ivf.nprobe))

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

    def search(
        self, queries: np.ndarray, k: int, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) per query; missing results have id -1.

        With ``among`` (ids), only those ids are ranked, so ``k`` of them come back when the
        index holds ``k`` of them (see :meth:`_search_among`).
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if among is not None:
            return self._search_among(queries, max(1, min(k, len(among))), among)
        k = max(1, min(k, len(self)))
        scores, ids = self._index.search(queries, k)
        return scores, ids

    def _search_among(
        self, queries: np.ndarray, k: int, among: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` among some ids, through a FAISS ID selector (no vector outside is scored).

        An exact index checks every vector's id against the selector. An IVF index visits
        ``nprobe / share`` lists, ``share`` being the part of the index that ``among`` is, so a
        filtered query meets about as many candidates as an unfiltered one does; when that
        finds fewer than ``k`` of them it visits every list, which ranks all of ``among``.
        """
        selector = id_selector(among)
        if self.layout.is_exact:
            params = faiss.SearchParameters(sel=selector)
            return self._index.search(queries, k, params=params)
        share = max(len(among) / max(1, len(self)), 1e-9)
        nprobe = min(
            self.layout.nlist, math.ceil(faiss.extract_index_ivf(self._index).nprobe / share)
        )
        while True:
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
            scores, ids = self._index.search(queries, k, params=params)
            if nprobe >= self.layout.nlist or (ids >= 0).sum(axis=1).min() >= k:
                return scores, ids
            nprobe = self.layout.nlist

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
