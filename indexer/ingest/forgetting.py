"""Forgetting pictures: SQLite and the vector indexes of the collection (pictures, captions and
tags, clips' frames) change together, under the collection's locks. No model runs, so the
service and the command line's model-free ``forget`` (:mod:`indexer.cli.without_model`) share
this one implementation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from indexer.records import Forgotten
from indexer.store import Store
from indexer.vectors.backend import VectorBackend


async def forget_pictures(
    store: Store,
    pictures: VectorBackend,
    texts: VectorBackend,
    frames: VectorBackend,
    collection_id: int,
    image_ids: Sequence[int],
    *,
    author: int | None = None,
) -> int:
    """Removes pictures (their reposts, captions, tags and frames too); returns how many pictures.
    With ``author``, every caption and tag that person added to the collection goes too."""
    async with (
        pictures.editing(collection_id) as picture_index,
        texts.editing(collection_id) as text_index,
        frames.editing(collection_id) as frame_index,
    ):
        forgotten: Forgotten = await store.pictures.forget(collection_id, image_ids, author=author)
        picture_index.remove(np.array(forgotten.images, dtype=np.int64))
        text_index.remove(np.array(forgotten.texts, dtype=np.int64))
        frame_index.remove(np.array(forgotten.frames, dtype=np.int64))
    return len(forgotten.images)
