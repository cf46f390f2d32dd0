"""Search latency and recall of the Milvus backend, through the class the service uses.

Run from the repository root, against Milvus Lite (a file) or a server::

    .venv/bin/python -m benchmarks.milvus                                  # Milvus Lite, 100k
    .venv/bin/python -m benchmarks.milvus --uri http://127.0.0.1:19530     # a server

Fills one big chat (``--count`` synthetic clustered 512-d vectors, the generator of
``benchmarks/query.py``) and one small chat of 50 beside it through
:class:`~indexer.vectors.milvus_backend.MilvusBackend`, flushes and waits for the index, then times
≥ 200 searches of each chat (top-10, the backend's own call: filter by chat, client-side
filtering of recent deletes) and reports p50/p99 and recall@10 against exact search.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
from pymilvus import MilvusClient

from benchmarks.query import K, clustered_vectors, recall_at_k
from indexer.config import MilvusConfig
from indexer.records import PICTURE_VECTORS
from indexer.store import Store
from indexer.vectors.milvus_backend import MilvusBackend

BIG_CHAT, SMALL_CHAT, SMALL_SIZE = 1, 2, 50
INSERT_CHUNK = 20_000


async def fill(backend: MilvusBackend, chat: int, vectors: np.ndarray, first_id: int) -> None:
    for start in range(0, len(vectors), INSERT_CHUNK):
        chunk = vectors[start : start + INSERT_CHUNK]
        ids = np.arange(first_id + start, first_id + start + len(chunk), dtype=np.int64)
        async with backend.editing(chat) as editor:
            editor.add(ids, chunk)


def wait_for_index(settings: MilvusConfig, prefix: str) -> float:
    """Flushes the collection and waits until every sealed segment is indexed; seconds taken."""
    started = time.perf_counter()
    client = MilvusClient(settings.uri)
    name = next(n for n in client.list_collections() if n.startswith(prefix))
    client.flush(name)
    while True:
        described = client.describe_index(name, "vector")
        if described.get("pending_index_rows", 0) == 0 and described.get("state") == "Finished":
            break
        time.sleep(1)
    client.close()
    return time.perf_counter() - started


async def timed(
    backend: MilvusBackend, chat: int, queries: np.ndarray
) -> tuple[list[float], np.ndarray]:
    latencies, found = [], []
    for query in queries:
        started = time.perf_counter()
        _, ids = await backend.search(chat, query[None, :], K)
        latencies.append(time.perf_counter() - started)
        found.append(ids[0])
    return latencies, np.array(found)


def exact_top(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray) -> np.ndarray:
    scores = queries @ vectors.T
    return ids[np.argsort(-scores, axis=1)[:, :K]]


async def run(uri: str, count: int, index_type: str, nprobe: int, queries: int) -> None:
    rng = np.random.default_rng(7)
    vectors = clustered_vectors(count + SMALL_SIZE + queries, max(16, count // 500), rng)
    big, small, probes = np.split(vectors, [count, count + SMALL_SIZE])
    prefix = f"bench_{int(time.time())}"
    settings = MilvusConfig.model_validate(
        {"uri": uri, "name_prefix": prefix, "index_type": index_type, "nprobe": nprobe}
    )
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open_in(Path(folder))
        backend = await MilvusBackend.open(
            settings, store.vectors, PICTURE_VECTORS, "collection", "bench-model", vectors.shape[1]
        )
        started = time.perf_counter()
        await fill(backend, BIG_CHAT, big, 0)
        await fill(backend, SMALL_CHAT, small, count)
        inserted = time.perf_counter() - started
        indexed = await asyncio.to_thread(wait_for_index, settings, prefix)
        print(
            f"{uri} {index_type} nprobe={nprobe}: inserted {count + SMALL_SIZE:,} vectors in "
            f"{inserted:.1f} s, flushed and indexed in {indexed:.1f} s"
        )
        print("| chat | vectors | p50 ms | p99 ms | recall@10 |")
        print("|---|---:|---:|---:|---:|")
        for chat, held, first in ((BIG_CHAT, big, 0), (SMALL_CHAT, small, count)):
            latencies, found = await timed(backend, chat, probes)
            truth = exact_top(held, np.arange(first, first + len(held)), probes)
            p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
            hit_rate = recall_at_k(found, truth)
            print(f"| {chat} | {len(held):,} | {p50:.2f} | {p99:.2f} | {hit_rate:.3f} |")
        client = MilvusClient(uri)
        for name in client.list_collections():
            if name.startswith(prefix):
                client.drop_collection(name)
        client.close()
        await backend.close()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", help="a Milvus server (default: Milvus Lite in a temp file)")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--index-type", default="IVF_SQ8", choices=["IVF_SQ8", "HNSW", "FLAT"])
    parser.add_argument("--nprobe", type=int, default=32)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        uri = args.uri or str(Path(folder) / "milvus.db")
        asyncio.run(run(uri, args.count, args.index_type, args.nprobe, args.queries))


if __name__ == "__main__":
    main()
