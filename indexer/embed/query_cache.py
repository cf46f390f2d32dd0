"""Vectors of recent query texts, so that a question asked again skips the text tower.

A person presses More (the same query, the next page), types an inline query a letter at a
time and goes back, or a group asks what it asked yesterday: each of those would cost a text
tower call (tens of ms for the default model on a CPU). The entries are keyed by the model
identity as well as the text, so vectors of one model are never answered for another.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

#: Texts kept: 1,024 vectors of 512 floats are 2 MB.
QUERY_VECTORS_KEPT = 1024


class QueryVectors:
    """The most recently used query vectors, at most ``kept`` of them (least recent out first).

    Used from the event loop only (the pipeline's ``embed_texts``), so it takes no lock.
    """

    def __init__(self, kept: int = QUERY_VECTORS_KEPT) -> None:
        self._kept = kept
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def get(self, identity: str, text: str) -> np.ndarray | None:
        """``text``'s vector under the model ``identity``, if kept (then most recent again)."""
        key = (identity, text)
        vector = self._vectors.get(key)
        if vector is not None:
            self._vectors.move_to_end(key)
        return vector

    def put(self, identity: str, text: str, vector: np.ndarray) -> None:
        """Keeps a read-only copy of ``vector``; the least recently used goes past ``kept``."""
        kept = np.array(vector, dtype=np.float32)
        kept.flags.writeable = False
        self._vectors[identity, text] = kept
        self._vectors.move_to_end((identity, text))
        while len(self._vectors) > self._kept:
            self._vectors.popitem(last=False)

    def __len__(self) -> int:
        return len(self._vectors)
