"""Making a vector index hold exactly what SQLite says it should: one check for every backend.

SQLite is the source of truth; a FAISS file or a Milvus collection is a copy that may have
fallen behind (a crash before a save, a write Milvus refused). Both are repaired the same way:
compare ids, drop the ones SQLite no longer has, send the stored vectors of the ones missing.
No model runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from indexer.records import VectorKind
from indexer.store.vectors import Vectors


@dataclass(frozen=True)
class Reconciled:
    """What a reconcile found: the ids that should be there, those added and those removed."""

    live: np.ndarray
    added: np.ndarray
    removed: np.ndarray

    @property
    def changed(self) -> bool:
        return bool(len(self.added) or len(self.removed))


async def reconcile(
    vectors: Vectors,
    collection_id: int,
    model_id: str,
    kind: VectorKind,
    held: np.ndarray,
    *,
    remove: Callable[[np.ndarray], Awaitable[object]],
    add: Callable[[np.ndarray, np.ndarray], Awaitable[object]],
    chunk: int,
) -> Reconciled:
    """Removes ids ``held`` that SQLite no longer has; adds the stored vectors of those missing.

    ``add`` is called with at most ``chunk`` vectors at a time, so a large gap never builds one
    huge request.
    """
    live = await vectors.live_ids(collection_id, model_id, kind)
    missing = np.setdiff1d(live, held)
    stale = np.setdiff1d(held, live)
    if len(stale):
        await remove(stale)
    for start in range(0, len(missing), chunk):
        found = await vectors.vectors_by_ids(
            missing[start : start + chunk].tolist(), model_id, kind
        )
        if found:
            await add(np.fromiter(found, np.int64, len(found)), np.stack(list(found.values())))
    return Reconciled(live, missing, stale)
