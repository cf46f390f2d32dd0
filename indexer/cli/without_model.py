"""``list``, ``stats`` and ``forget``: they read or change what is kept, so they need the store
and the vector indexes but not the model, and start at once (no torch: issue 16).

:class:`StoreOnly` opens the store and both indexes under the configured model's identity
(:func:`~indexer.model.identity.model_identity`, no weights loaded) and answers the same
questions as :class:`~indexer.service.IndexService`, through the same code
(:mod:`indexer.store.summary`, :mod:`indexer.ingest.forgetting`). The command functions below
take either, so the service-run fallback prints exactly the same. Where only the model could
answer as the service would (a model never calibrated on this data folder, or one with no
stored vector, a missing checkpoint, a Milvus backend), :meth:`StoreOnly.open` says so and
:mod:`indexer.cli.dispatch` opens the service instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Sequence
from typing import Protocol

from indexer.cli.index_folder import file_source
from indexer.cli.output import listing_json, print_listing, print_stats
from indexer.config import IndexerConfig
from indexer.errors import PictureNotFoundError, UnknownCollectionError
from indexer.ingest.forgetting import forget_pictures
from indexer.model.identity import model_identity
from indexer.records import (
    FRAME_VECTORS,
    PICTURE_VECTORS,
    TEXT_VECTORS,
    CollectionStats,
    ListedPicture,
    PictureFilter,
    Thresholds,
)
from indexer.store import Store
from indexer.store.summary import collection_stats, listed_pictures, stored_thresholds
from indexer.vectors.backend import VectorBackend, open_backend


class Kept(Protocol):
    """What these commands ask: :class:`~indexer.service.IndexService` answers it, and so does
    :class:`StoreOnly` without the model."""

    config: IndexerConfig

    async def collections(self) -> list[str]: ...

    async def stats(self, collection: str) -> CollectionStats: ...

    async def list_pictures(
        self, collection: str, wanted: PictureFilter
    ) -> list[ListedPicture]: ...

    async def ids_of_source(self, collection: str, source: str) -> list[int]: ...

    async def forget(self, collection: str, image_ids: Sequence[int]) -> int: ...


class StoreOnly:
    """The store and both vector indexes of the configured model, opened without loading it.

    The indexes are checked against SQLite as they are read (in memory); only a ``forget``
    writes them back, when closing.
    """

    def __init__(
        self,
        store: Store,
        pictures: VectorBackend,
        texts: VectorBackend,
        frames: VectorBackend,
        model_id: str,
        thresholds: Thresholds,
        config: IndexerConfig,
    ) -> None:
        self.config = config
        self._store = store
        self._max_attempts = config.limits.max_attempts
        self._pictures = pictures
        self._texts = texts
        self._frames = frames
        self._model_id = model_id
        self._thresholds = thresholds
        self._changed = False

    @classmethod
    async def open(cls, config: IndexerConfig) -> StoreOnly | None:
        """Opens the data folder for the configured model; None where only the service (and
        the model) can answer as it would: see the module's description."""
        checkpoint = config.model.checkpoint
        if config.index.backend != "faiss" or (checkpoint is not None and not checkpoint.is_file()):
            return None
        model_id = model_identity(config.model)
        store = await Store.open_in(config.storage.data_dir)
        try:
            thresholds = await stored_thresholds(store, model_id, config.search)
            dim = await _stored_dimension(store, model_id)
            if thresholds is None or dim is None:
                await store.close()
                return None
            pictures = await open_backend(config, store.vectors, PICTURE_VECTORS, model_id, dim)
            texts = await open_backend(config, store.vectors, TEXT_VECTORS, model_id, dim)
            frames = await open_backend(config, store.vectors, FRAME_VECTORS, model_id, dim)
        except BaseException:
            await store.close()
            raise
        return cls(store, pictures, texts, frames, model_id, thresholds, config)

    async def close(self) -> None:
        """Saves the indexes a ``forget`` changed, then closes everything (as the service does)."""
        async with contextlib.AsyncExitStack() as parts:
            parts.push_async_callback(self._store.close)
            for backend in (self._frames, self._texts, self._pictures):
                parts.push_async_callback(backend.close)
                if self._changed:
                    parts.push_async_callback(backend.save_due, True)

    async def _collection_id(self, name: str) -> int:
        collection_id = await self._store.collections.id_of(name)
        if collection_id is None:
            raise UnknownCollectionError(name)
        return collection_id

    async def collections(self) -> list[str]:
        return list(await self._store.collections.all())

    async def stats(self, collection: str) -> CollectionStats:
        collection_id = await self._collection_id(collection)
        index = await self._pictures.describe(collection_id)
        return await collection_stats(
            self._store,
            collection,
            collection_id,
            self._model_id,
            index,
            self._thresholds,
            max_attempts=self._max_attempts,
        )

    async def list_pictures(self, collection: str, wanted: PictureFilter) -> list[ListedPicture]:
        return await listed_pictures(self._store, await self._collection_id(collection), wanted)

    async def ids_of_source(self, collection: str, source: str) -> list[int]:
        collection_id = await self._collection_id(collection)
        return await self._store.pictures.ids_of_source(collection_id, source)

    async def forget(self, collection: str, image_ids: Sequence[int]) -> int:
        collection_id = await self._collection_id(collection)
        self._changed = True
        return await forget_pictures(
            self._store, self._pictures, self._texts, self._frames, collection_id, image_ids
        )


async def _stored_dimension(store: Store, model_id: str) -> int | None:
    """The length of the model's vectors, from any vector stored for it; None if none is."""
    for collection_id in (await store.collections.all()).values():
        for kind in (PICTURE_VECTORS, TEXT_VECTORS):
            ids = await store.vectors.live_ids(collection_id, model_id, kind)
            if len(ids):
                found = await store.vectors.vectors_by_ids([int(ids[0])], model_id, kind)
                return len(next(iter(found.values())))
    return None


async def list_pictures(kept: Kept, args: argparse.Namespace) -> int:
    wanted = PictureFilter(
        status=args.status, poster=args.poster, contains=args.contains, limit=args.limit
    )
    pictures = await kept.list_pictures(args.collection, wanted)
    if args.json:
        print(json.dumps([listing_json(p) for p in pictures], ensure_ascii=False, indent=2))
    else:
        print_listing(pictures)
    return 0


async def stats(kept: Kept, args: argparse.Namespace) -> int:
    reading_on = kept.config.ocr.enabled
    names = [args.collection] if args.collection else await kept.collections()
    for name in names:
        print_stats(await kept.stats(name), reading_on)
    return 0


async def targets(kept: Kept, args: argparse.Namespace) -> list[tuple[str, list[int]]]:
    """Each ``--id`` or ``--path`` the user named, with the picture ids it stands for."""
    if args.ids:
        return [(f"id {image_id}", [image_id]) for image_id in args.ids]
    return [
        (str(path), await kept.ids_of_source(args.collection, file_source(path)))
        for path in args.paths
    ]


async def forget(kept: Kept, args: argparse.Namespace) -> int:
    removed = 0
    missing: list[str] = []
    for name, ids in await targets(kept, args):
        count = await kept.forget(args.collection, ids) if ids else 0
        removed += count
        if not count:
            missing.append(name)
    return report_targets(
        f"forgot {removed} picture(s)",
        removed,
        missing,
        f"no such picture in collection {args.collection!r}",
    )


def report_targets(done: str, count: int, missing: list[str], not_found: str) -> int:
    """Prints ``done`` (not when nothing was done and something is missing: no success line
    above an error), then raises PictureNotFoundError ``not_found: <missing>``; else 0.

    ``forget`` and ``tag`` end the same way."""
    if count or not missing:
        print(done)
    if missing:
        raise PictureNotFoundError(f"{not_found}: {', '.join(missing)}")
    return 0
