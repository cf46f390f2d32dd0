"""The in-memory FAISS index of every collection, kept consistent with SQLite.

SQLite is the source of truth; FAISS files are a cache. At start-up each file is checked
against the stored vectors and repaired (missing ids added, stale ids removed) or, if missing
or damaged (its checksum does not match), rebuilt from SQLite without running the model.
Every change of an index happens under its collection's lock, together with the SQLite
write that justifies it, so the two cannot drift apart while the service runs.

Searches do not take that lock: they share the index (:class:`ReadWriteGate`) with each other
and with saves, and wait only while a change is being applied. A save serialises the index
under the shared side and writes the file with no lock at all, so a big chat's searches never
queue behind each other or behind the disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import numpy as np

from indexer.records import VectorKind
from indexer.store.vectors import Vectors
from indexer.vectors.faiss_files import FaissFiles
from indexer.vectors.faiss_index import IndexLayout, IndexPolicy, VectorIndex
from indexer.vectors.read_write_gate import ReadWriteGate
from indexer.vectors.reconcile import reconcile

log = logging.getLogger(__name__)

#: Stored vectors read from SQLite per addition while repairing an index.
_RECONCILE_CHUNK = 50_000


@dataclass
class _Guard:
    """What keeps one collection's index consistent while it is searched, changed and saved."""

    #: One change at a time (an edit with its SQLite write, a load, a swap).
    changing: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Searches and snapshots share the FAISS object; applying a change holds it alone.
    index: ReadWriteGate = field(default_factory=ReadWriteGate)
    #: Saves of one collection in order, so an older snapshot never overwrites a newer one.
    saving: asyncio.Lock = field(default_factory=asyncio.Lock)


class FaissBackend:
    """One :class:`VectorIndex` per collection for the current model, with locks and saving.

    One instance serves one kind of vector (pictures, or captions and tags).
    """

    def __init__(
        self,
        vectors: Vectors,
        kind: VectorKind,
        store: FaissFiles,
        policy: IndexPolicy,
        model_id: str,
        dim: int,
        save_interval: float,
    ) -> None:
        self._vectors = vectors
        self._kind = kind
        self._store = store
        self._policy = policy
        self._model_id = model_id
        self._dim = dim
        self._save_interval = save_interval
        self._indexes: dict[int, VectorIndex] = {}
        self._guards: dict[int, _Guard] = {}
        self._dirty: set[int] = set()
        self._growing: dict[int, asyncio.Task[None]] = {}
        self._last_save = time.monotonic()

    def _guard(self, collection_id: int) -> _Guard:
        return self._guards.setdefault(collection_id, _Guard())

    @asynccontextmanager
    async def editing(self, collection_id: int) -> AsyncIterator[VectorIndex]:
        """Holds the collection's lock and yields its index; the index is saved later.

        Searches wait while the block runs (it holds the index alone), so they never see the
        SQLite write without the index change that goes with it; keep the block short.
        """
        guard = self._guard(collection_id)
        async with guard.changing:
            index = await self._loaded(collection_id)
            async with guard.index.writing():
                yield index
                self._dirty.add(collection_id)

    async def search(
        self, collection_id: int, queries: np.ndarray, k: int, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) in one collection, only among the ids ``among`` if given;
        empty if it has no vectors yet.

        Runs alongside other searches and saves of the collection.
        """
        await self._get(collection_id)

        def search_current() -> tuple[np.ndarray, np.ndarray]:
            # Picked once admitted: an index swapped out before then may lack a deletion.
            index = self._indexes[collection_id]
            if len(index) == 0:
                empty = np.zeros((len(queries), 0))
                return empty.astype(np.float32), empty.astype(np.int64)
            return index.search(queries, k, among)

        return await self._guard(collection_id).index.read(search_current)

    async def describe(self, collection_id: int) -> tuple[str, int, int]:
        """(layout name, number of vectors, bytes on disk) of the collection's index."""
        index = await self._get(collection_id)
        size = self._store.size_on_disk(collection_id, self._model_id)
        return index.layout.name, len(index), size

    async def _get(self, collection_id: int) -> VectorIndex:
        """The collection's index, loaded (under its lock) the first time it is asked for."""
        index = self._indexes.get(collection_id)
        if index is None:
            async with self._guard(collection_id).changing:
                index = await self._loaded(collection_id)
        return index

    async def _loaded(self, collection_id: int) -> VectorIndex:
        """The collection's index, loading it if needed; the caller holds ``changing``."""
        index = self._indexes.get(collection_id)
        if index is None:
            index = await self._load_or_rebuild(collection_id)
            self._indexes[collection_id] = index
        return index

    async def load_all(self, collection_ids: list[int]) -> None:
        """Checks every collection's FAISS file against SQLite at start-up, and removes the
        temporary files of saves a kill cut short."""
        for leftover in await asyncio.to_thread(self._store.remove_leftovers):
            log.info("removed %s, left by a save that was cut short", leftover.name)
        for collection_id in collection_ids:
            await self._get(collection_id)

    async def _load_or_rebuild(self, collection_id: int) -> VectorIndex:
        index = await asyncio.to_thread(self._store.load, collection_id, self._model_id)
        if index is None or index.dim != self._dim:
            path = self._store.path(collection_id, self._model_id)
            reason = "missing" if index is None and not path.exists() else "damaged"
            if index is not None:
                reason = f"of dimension {index.dim}, not {self._dim}"
            index = await self.build(collection_id)
            if len(index) or reason != "missing":
                log.info(
                    "collection %d: FAISS file %s was %s; rebuilt from %d stored vectors",
                    collection_id,
                    path.name,
                    reason,
                    len(index),
                )
            # Saved by the next save_due, so a disk that refuses it fails no edit or search.
            self._dirty.add(collection_id)
            return index
        added, removed = await self._reconcile(collection_id, index)
        if added or removed:
            log.info(
                "collection %d: FAISS file was stale; added %d and removed %d ids from SQLite",
                collection_id,
                added,
                removed,
            )
            self._dirty.add(collection_id)
        if self._policy.needs_rebuild(index.layout, len(index)):
            index = await self.build(collection_id)
            self._dirty.add(collection_id)
        return index

    async def build(self, collection_id: int) -> VectorIndex:
        """A fresh index from the vectors stored in SQLite, laid out for its size."""
        ids, vectors = await self._vectors.vectors(collection_id, self._model_id, self._kind)
        layout = self._policy.layout_for(len(ids))
        if len(ids) == 0:
            vectors = np.zeros((0, self._dim), dtype=np.float32)
        return await asyncio.to_thread(VectorIndex.build, ids, vectors, layout, self._dim)

    async def _reconcile(self, collection_id: int, index: VectorIndex) -> tuple[int, int]:
        """Makes ``index`` hold exactly the ids SQLite says it should; returns (added, removed)."""

        async def remove(ids: np.ndarray) -> None:
            index.remove(ids)

        async def add(ids: np.ndarray, vectors: np.ndarray) -> None:
            index.add(ids, vectors)

        done = await reconcile(
            self._vectors,
            collection_id,
            self._model_id,
            self._kind,
            index.ids(),
            remove=remove,
            add=add,
            chunk=_RECONCILE_CHUNK,
        )
        return len(done.added), len(done.removed)

    async def replace(self, collection_id: int, index: VectorIndex) -> None:
        """Swaps in a rebuilt index, first catching up with changes made while it was built.

        Searches keep using the old index while the new one catches up (it is not shared yet).
        """
        guard = self._guard(collection_id)
        async with guard.changing:
            await self._reconcile(collection_id, index)
            async with guard.index.writing():
                self._indexes[collection_id] = index
                self._dirty.add(collection_id)

    async def rebuild(self, collection_id: int) -> None:
        """Swaps in an index built afresh from SQLite (after a reindex)."""
        await self.replace(collection_id, await self.build(collection_id))

    async def delete_other_models(self, collection_id: int) -> None:
        """Removes the collection's FAISS files of models other than the current one."""
        self._store.delete_other_models(collection_id, self._model_id)

    def grow_if_needed(self, collection_id: int) -> None:
        """Starts moving a collection to a bigger layout, in the background, once it outgrew
        its current one.

        Training a large IVF index takes minutes; meanwhile the old index keeps serving and
        taking new vectors, and :meth:`replace` catches the new one up before the swap.
        """
        index = self._indexes.get(collection_id)
        if (
            collection_id in self._growing
            or index is None
            or not self._policy.needs_rebuild(index.layout, len(index))
        ):
            return
        task = asyncio.create_task(self._grow(collection_id, index.layout))
        self._growing[collection_id] = task
        task.add_done_callback(lambda _: self._growing.pop(collection_id, None))

    async def wait_growth(self) -> None:
        """Waits for the layout changes in progress (tests and ``wait_idle``)."""
        while self._growing:
            await asyncio.gather(*self._growing.values(), return_exceptions=True)

    async def close(self) -> None:
        """Abandons layout changes in progress; the next start finishes them."""
        for task in list(self._growing.values()):
            task.cancel()
        await asyncio.gather(*self._growing.values(), return_exceptions=True)

    async def _grow(self, collection_id: int, layout: IndexLayout) -> None:
        try:
            await self._rebuild_larger(collection_id, layout)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("collection %d: moving to a larger index failed", collection_id)

    async def _rebuild_larger(self, collection_id: int, old: IndexLayout) -> None:
        started = time.monotonic()
        rebuilt = await self.build(collection_id)
        await self.replace(collection_id, rebuilt)
        log.info(
            "collection %d: index moved from %s to %s at %d vectors (%.1f s)",
            collection_id,
            old.name,
            rebuilt.layout.name,
            len(rebuilt),
            time.monotonic() - started,
        )

    async def save_due(self, force: bool = False) -> None:
        """Saves changed indexes, at most every ``save_interval`` seconds unless forced.

        Saving is only an optimisation: an index that was not saved before a crash is repaired
        from SQLite at the next start.
        """
        if not self._dirty or (
            not force and time.monotonic() - self._last_save < self._save_interval
        ):
            return
        for collection_id in sorted(self._dirty):
            await self._save(collection_id)
        self._last_save = time.monotonic()

    async def _save(self, collection_id: int) -> None:
        """Writes a snapshot of the index; searches go on meanwhile, changes wait only for the
        snapshot (serialising in memory), not for the disk."""
        guard = self._guard(collection_id)
        async with guard.saving:
            # Cleared before the snapshot: a change made after it marks the index again.
            self._dirty.discard(collection_id)
            try:
                data = await guard.index.read(lambda: self._indexes[collection_id].to_bytes())
                await asyncio.to_thread(self._store.write, collection_id, self._model_id, data)
            except BaseException:
                self._dirty.add(collection_id)
                raise
