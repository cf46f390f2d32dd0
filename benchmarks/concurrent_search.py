"""Do searches of one large collection run side by side, and beside a save of its index?

Run from the repository root::

    .venv/bin/python -m benchmarks.concurrent_search              # 20 000 pictures (Flat)
    .venv/bin/python -m benchmarks.concurrent_search --size 100000 # IVF

One collection of ``--size`` indexed pictures (synthetic clustered 512-d vectors, written
straight into a real SQLite file by ``benchmarks.query``'s ``fill_database``) is opened through
the public :class:`~indexer.vectors.faiss_backend.FaissBackend` API, whose FAISS index is built from
SQLite as after a lost index file. Then, interleaved over ``--rounds`` rounds (medians):

* **in flight:** ``--searches`` single-query searches of that collection, top-10, one at a
  time and then with 2, 4 and 8 in flight; searches per second.
* **during a save:** searches one at a time while ``save_due(force=True)`` serialises and
  writes the index; their latency against the save's duration (a search that waits for the
  save takes about as long as the save).

To measure the code before a change, run the same command with that version's ``indexer``
package first on ``PYTHONPATH`` (e.g. from ``git archive main indexer``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.query import DIM, K, clustered_vectors, fill_database
from indexer.records import PICTURE_VECTORS
from indexer.store import DATABASE_FILE, Store
from indexer.vectors.faiss_backend import FaissBackend
from indexer.vectors.faiss_files import FaissFiles
from indexer.vectors.faiss_index import IndexPolicy

MODEL_ID = "benchmark-model"
COLLECTION_ID = 1
IN_FLIGHT = (1, 2, 4, 8)


async def searches_per_second(live: FaissBackend, queries: np.ndarray, in_flight: int) -> float:
    """Searches ``queries`` with ``in_flight`` lanes, each one query at a time."""
    lanes = [queries[lane::in_flight] for lane in range(in_flight)]

    async def lane(part: np.ndarray) -> None:
        for query in part:
            await live.search(COLLECTION_ID, query[None, :], K)

    started = time.perf_counter()
    await asyncio.gather(*(lane(part) for part in lanes))
    return len(queries) / (time.perf_counter() - started)


async def during_save(live: FaissBackend, queries: np.ndarray) -> tuple[float, float, float]:
    """(save seconds, median and max search ms) for searches made while a save runs."""
    latencies: list[float] = []
    # A no-op change marks the index as changed, so the forced save really writes it.
    async with live.editing(COLLECTION_ID):
        pass
    started = time.perf_counter()
    saving = asyncio.create_task(live.save_due(force=True))
    await asyncio.sleep(0)
    for query in queries:
        if saving.done():
            break
        begun = time.perf_counter()
        await live.search(COLLECTION_ID, query[None, :], K)
        latencies.append(1000 * (time.perf_counter() - begun))
    await saving
    save_seconds = time.perf_counter() - started
    return save_seconds, statistics.median(latencies), max(latencies)


async def measure(
    size: int, searches: int, rounds: int, folder: Path, rng: np.random.Generator
) -> None:
    store = await Store.open(folder / DATABASE_FILE)
    policy = IndexPolicy(flat_max=20_000)
    live = FaissBackend(
        store.vectors,
        PICTURE_VECTORS,
        FaissFiles(folder / "faiss"),
        policy,
        MODEL_ID,
        DIM,
        3600.0,
    )
    try:
        await live.load_all([COLLECTION_ID])
        layout, count, _ = await live.describe(COLLECTION_ID)
        queries = clustered_vectors(searches, max(10, size // 200), rng)
        rates: dict[int, list[float]] = {n: [] for n in IN_FLIGHT}
        saves: list[tuple[float, float, float]] = []
        for _ in range(rounds):
            for n in IN_FLIGHT:
                rates[n].append(await searches_per_second(live, queries, n))
            saves.append(await during_save(live, queries))
        print(f"{count} vectors, {layout}, top-{K}, {searches} searches, medians of {rounds}")
        print("| searches in flight | searches/s | × one at a time |")
        print("|---|---|---|")
        single = statistics.median(rates[1])
        for n in IN_FLIGHT:
            rate = statistics.median(rates[n])
            print(f"| {n} | {rate:.0f} | ×{rate / single:.2f} |")
        save_s, median_ms, max_ms = (
            statistics.median(column) for column in zip(*saves, strict=True)
        )
        print(
            f"during a save of {1000 * save_s:.0f} ms: searches took {median_ms:.1f} ms "
            f"(median), {max_ms:.0f} ms at most"
        )
    finally:
        await live.close()
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000, help="pictures in the collection")
    parser.add_argument("--searches", type=int, default=400, help="searches per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians are reported)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        fill_database(Path(folder) / DATABASE_FILE, args.size, MODEL_ID, 0.0, rng)
        asyncio.run(measure(args.size, args.searches, args.rounds, Path(folder), rng))


if __name__ == "__main__":
    main()
