"""Milvus as the vector store, for collections past one machine's memory.

One Milvus collection per model and kind of vector holds every chat's vectors; the indexer's
``collection_id`` is its partition key, so a search filtered to one chat reads only that chat's
partition and can never return another chat's pictures. Ids are the SQLite row ids, as in FAISS,
and SQLite stays the source of truth: at start-up (and after a failed write) each collection's
ids in Milvus are compared with SQLite's and the difference is sent again.

Writes use Session consistency, so this process's searches see its own inserts at once. Milvus
servers before 2.4 answer deletes without a timestamp, which Session cannot wait for; the ids
this process deleted recently are therefore also filtered out of its results on the client.

Length (over ~350 lines, on purpose): every VectorBackend method for Milvus and the
collection, schema and index set-up they rely on, one short function each, in one place.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import numpy as np
from pymilvus import CollectionSchema, DataType, MilvusClient, MilvusException
from pymilvus.milvus_client.index import IndexParams

from indexer.config import MilvusConfig
from indexer.errors import ConfigError
from indexer.records import VectorKind
from indexer.store.vectors import Vectors
from indexer.vectors.reconcile import reconcile

log = logging.getLogger(__name__)

#: Environment variable that gives the Milvus token when ``index.milvus.token`` is empty.
TOKEN_ENV = "MILVUS_TOKEN"
#: Rows per insert call; Milvus caps one request's size (64 MB by default).
_INSERT_ROWS = 5_000
#: Ids per page when listing a collection's ids for a consistency check.
_ID_PAGE = 16_384
#: Milvus's largest ``limit`` for one search.
_MAX_LIMIT = 16_384
#: How long deleted ids are filtered out on the client (far longer than any server lag).
_DELETE_MEMORY_SECONDS = 60.0
#: How long to wait for a collection or index that another program is creating to appear
#: (Milvus Lite lists it milliseconds after refusing a second creation).
_CREATED_ELSEWHERE_SECONDS = 10.0


@dataclass
class _Changes:
    """Additions and removals recorded under a collection's lock, sent when it is released."""

    added: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    removed: list[np.ndarray] = field(default_factory=list)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.added.append(
                (np.asarray(ids, dtype=np.int64), np.asarray(vectors, dtype=np.float32))
            )

    def remove(self, ids: np.ndarray) -> int:
        self.removed.append(np.asarray(ids, dtype=np.int64))
        return len(ids)


class MilvusBackend:
    """Every collection's vectors of one kind and model, in one Milvus collection."""

    def __init__(
        self,
        client: MilvusClient,
        settings: MilvusConfig,
        vectors: Vectors,
        kind: VectorKind,
        name: str,
        model_id: str,
    ) -> None:
        self._client = client
        self._settings = settings
        self._vectors = vectors
        self._kind = kind
        self._name = name
        self._model_id = model_id
        self._locks: dict[int, asyncio.Lock] = {}
        self._counts: dict[int, int] = {}
        self._unsynced: set[int] = set()
        self._recently_deleted: dict[int, dict[int, float]] = {}

    @classmethod
    async def open(
        cls,
        settings: MilvusConfig,
        vectors: Vectors,
        kind: VectorKind,
        prefix: str,
        model_id: str,
        dim: int,
    ) -> MilvusBackend:
        """Connects, and creates (or loads) the Milvus collection of this model and kind."""
        token = settings.token.get_secret_value() or os.environ.get(TOKEN_ENV, "")
        model_tag = hashlib.sha256(model_id.encode()).hexdigest()[:16]
        name = f"{settings.name_prefix}_{prefix}_{model_tag}"
        try:
            client = await asyncio.to_thread(MilvusClient, settings.uri, token=token)
            await asyncio.to_thread(_ensure_collection, client, name, dim, settings)
        except MilvusException as exc:
            raise ConfigError(f"index.milvus: cannot use Milvus at {settings.uri}: {exc}") from exc
        log.info("Milvus collection %s at %s (%s, %s)", name, settings.uri, model_id, prefix)
        return cls(client, settings, vectors, kind, name, model_id)

    def _lock(self, collection_id: int) -> asyncio.Lock:
        return self._locks.setdefault(collection_id, asyncio.Lock())

    @asynccontextmanager
    async def editing(self, collection_id: int) -> AsyncIterator[_Changes]:
        """Records changes under the collection's lock and sends them before releasing it.

        If Milvus cannot take them, SQLite still has them: the collection is marked for a
        consistency check on the next :meth:`save_due`, and nothing is lost.
        """
        async with self._lock(collection_id):
            changes = _Changes()
            yield changes
            try:
                await asyncio.to_thread(self._apply, collection_id, changes)
            except MilvusException:
                log.exception("collection %d: Milvus write failed; will resend", collection_id)
                self._unsynced.add(collection_id)
                return
            if changes.removed:
                # Removals name ids Milvus may never have held (a repost, a queued picture):
                # the count is SQLite's, which the delete just brought Milvus in line with.
                self._counts[collection_id] = await self._vectors.count_live(
                    collection_id, self._model_id, self._kind
                )

    def _apply(self, collection_id: int, changes: _Changes) -> None:
        removed = np.concatenate(changes.removed) if changes.removed else np.zeros(0, np.int64)
        if len(removed):
            self._delete(collection_id, removed)
        for ids, vectors in changes.added:
            self._insert(collection_id, ids, vectors)
        added = sum(len(ids) for ids, _ in changes.added)
        self._counts[collection_id] = self._counts.get(collection_id, 0) + added

    def _delete(self, collection_id: int, ids: np.ndarray) -> None:
        for start in range(0, len(ids), _ID_PAGE):
            self._client.delete(self._name, ids=ids[start : start + _ID_PAGE].tolist())
        now = time.monotonic()
        self._recently_deleted.setdefault(collection_id, {}).update((int(i), now) for i in ids)

    def _insert(self, collection_id: int, ids: np.ndarray, vectors: np.ndarray) -> None:
        for start in range(0, len(ids), _INSERT_ROWS):
            rows = [
                {"id": int(i), "collection_id": collection_id, "vector": vector}
                for i, vector in zip(
                    ids[start : start + _INSERT_ROWS],
                    vectors[start : start + _INSERT_ROWS],
                    strict=True,
                )
            ]
            self._client.insert(self._name, rows)
        deleted = self._recently_deleted.get(collection_id, {})
        for i in ids:
            deleted.pop(int(i), None)

    async def search(
        self, collection_id: int, queries: np.ndarray, k: int, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) of one collection per query row, only among the ids
        ``among`` if given (an ``id in [...]`` expression, applied by Milvus before ranking);
        missing results are -1."""
        hidden = self._hidden_ids(collection_id)
        limit = min(k + len(hidden), _MAX_LIMIT)
        expression = f"collection_id == {int(collection_id)}"
        if among is not None:
            expression += f" and id in [{','.join(str(int(i)) for i in among)}]"
        results = await asyncio.to_thread(
            self._client.search,
            self._name,
            data=[row for row in np.asarray(queries, dtype=np.float32)],
            limit=limit,
            filter=expression,
            search_params={"params": self._search_params(limit)},
            output_fields=[],
        )
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, hits in enumerate(results):
            kept = [hit for hit in hits if int(hit["id"]) not in hidden][:k]
            for column, hit in enumerate(kept):
                scores[row, column] = hit["distance"]
                ids[row, column] = hit["id"]
        return scores, ids

    def _search_params(self, limit: int) -> dict[str, int]:
        if self._settings.index_type == "IVF_SQ8":
            return {"nprobe": self._settings.nprobe}
        if self._settings.index_type == "HNSW":
            return {"ef": max(self._settings.hnsw_ef, limit)}
        return {}

    def _hidden_ids(self, collection_id: int) -> set[int]:
        """Ids this process deleted from the collection lately; an older server may still
        return them for a moment."""
        deleted = self._recently_deleted.get(collection_id, {})
        cutoff = time.monotonic() - _DELETE_MEMORY_SECONDS
        for i in [i for i, at in deleted.items() if at < cutoff]:
            del deleted[i]
        return set(deleted)

    async def describe(self, collection_id: int) -> tuple[str, int, int]:
        """(index type, vectors of the collection, 0: nothing is stored on this machine)."""
        async with self._lock(collection_id):
            if collection_id not in self._counts:
                await self._reconcile(collection_id)
            return f"Milvus {self._settings.index_type}", self._counts[collection_id], 0

    async def load_all(self, collection_ids: list[int]) -> None:
        """Checks every collection's ids in Milvus against SQLite at start-up."""
        for collection_id in collection_ids:
            async with self._lock(collection_id):
                await self._reconcile(collection_id)

    async def rebuild(self, collection_id: int) -> None:
        """Sends what SQLite has and Milvus lacks, removes what SQLite no longer has.

        Vectors of one model do not change under the same id (a new model or fine-tuned
        checkpoint has its own Milvus collection), so comparing ids is enough.
        """
        async with self._lock(collection_id):
            await self._reconcile(collection_id)

    async def _reconcile(self, collection_id: int) -> None:
        async def remove(ids: np.ndarray) -> None:
            await asyncio.to_thread(self._delete, collection_id, ids)

        async def add(ids: np.ndarray, vectors: np.ndarray) -> None:
            await asyncio.to_thread(self._insert, collection_id, ids, vectors)

        done = await reconcile(
            self._vectors,
            collection_id,
            self._model_id,
            self._kind,
            await asyncio.to_thread(self._held_ids, collection_id),
            remove=remove,
            add=add,
            chunk=_INSERT_ROWS,
        )
        if done.changed:
            log.info(
                "collection %d: Milvus was behind SQLite; sent %d and removed %d vectors",
                collection_id,
                len(done.added),
                len(done.removed),
            )
        self._counts[collection_id] = len(done.live)
        self._unsynced.discard(collection_id)

    def _held_ids(self, collection_id: int) -> np.ndarray:
        """Every id Milvus holds for the collection, read at Strong consistency."""
        iterator = self._client.query_iterator(
            self._name,
            batch_size=_ID_PAGE,
            filter=f"collection_id == {int(collection_id)}",
            output_fields=["id"],
            consistency_level="Strong",
        )
        ids: list[int] = []
        try:
            while page := iterator.next():
                ids += [int(row["id"]) for row in page]
        finally:
            iterator.close()
        return np.array(sorted(set(ids)), dtype=np.int64)

    async def delete_other_models(self, collection_id: int) -> None:
        """Deletes the collection's vectors from the Milvus collections of other models."""
        same_kind = self._name.rsplit("_", 1)[0] + "_"
        names = await asyncio.to_thread(self._client.list_collections)
        for name in names:
            if name.startswith(same_kind) and name != self._name:
                await asyncio.to_thread(
                    self._client.delete, name, filter=f"collection_id == {int(collection_id)}"
                )

    def grow_if_needed(self, collection_id: int) -> None:
        """Nothing to do: Milvus indexes each sealed segment itself as a collection grows."""

    async def wait_growth(self) -> None:
        """Nothing to wait for (see :meth:`grow_if_needed`)."""

    async def save_due(self, force: bool = False) -> None:
        """Resends the collections whose last write Milvus refused (it may be back now)."""
        for collection_id in sorted(self._unsynced):
            async with self._lock(collection_id):
                try:
                    await self._reconcile(collection_id)
                except MilvusException as exc:
                    log.warning("collection %d: Milvus still unavailable (%s)", collection_id, exc)
                    return

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)


def _ensure_collection(client: MilvusClient, name: str, dim: int, settings: MilvusConfig) -> None:
    """Creates the collection and its vector index unless they exist, then loads it for search.

    The bot and its worker start together, so each step tolerates the other program having
    done it first: checking and then creating would make one of them fail. What exists is
    checked against what this model needs before it is used.
    """
    if not client.has_collection(name):
        _create_or_find(
            name,
            lambda: client.create_collection(
                name, schema=_schema(client, dim), consistency_level="Session"
            ),
            lambda: client.has_collection(name),
        )
    _check_schema(client, name, dim)
    if not client.list_indexes(name):
        _create_or_find(
            name,
            lambda: client.create_index(name, _index_params(client, settings)),
            lambda: bool(client.list_indexes(name)),
        )
    client.load_collection(name)


def _create_or_find(name: str, create: Callable[[], object], exists: Callable[[], bool]) -> None:
    """Runs ``create``; a refusal because another program is creating the same thing (Milvus
    says "already exists", Milvus Lite "File exists" before the other's is even listed)
    counts as success once that thing appears; any other refusal is raised after a short wait."""
    try:
        create()
    except MilvusException:
        deadline = time.monotonic() + _CREATED_ELSEWHERE_SECONDS
        while not exists():
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        log.info("Milvus collection %s: another program created it at the same time", name)


def _schema(client: MilvusClient, dim: int) -> CollectionSchema:
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("collection_id", DataType.INT64, is_partition_key=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def _index_params(client: MilvusClient, settings: MilvusConfig) -> IndexParams:
    index_params = client.prepare_index_params()
    index_params.add_index(
        field_name="vector",
        index_type=settings.index_type,
        metric_type="IP",
        params=_build_params(settings),
    )
    return index_params


def _check_schema(client: MilvusClient, name: str, dim: int) -> None:
    """Refuses a collection of that name whose vectors are not this model's kind of vector
    (a name clash, or one made by hand): inserts would fail only later, one by one."""
    fields = {field["name"]: field for field in client.describe_collection(name)["fields"]}
    vector = fields.get("vector", {})
    found = (
        vector.get("type"),
        int(vector.get("params", {}).get("dim", 0)),
        fields.get("id", {}).get("is_primary", False),
        "collection_id" in fields,
    )
    if found != (DataType.FLOAT_VECTOR, dim, True, True):
        raise ConfigError(
            f"index.milvus: the Milvus collection {name} is not one this model can use (it "
            f"needs an int64 id, a collection_id and {dim}-dimensional float vectors; found "
            f"fields {sorted(fields)}, vector dim {found[1]}): drop it or change "
            "index.milvus.name_prefix"
        )


def _build_params(settings: MilvusConfig) -> dict[str, int]:
    if settings.index_type == "IVF_SQ8":
        return {"nlist": settings.nlist}
    if settings.index_type == "HNSW":
        return {"M": settings.hnsw_m, "efConstruction": settings.hnsw_ef_construction}
    return {}
