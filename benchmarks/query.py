"""FAISS search latency and recall at collection sizes the bot may reach.

Run from the repository root::

    .venv/bin/python -m benchmarks.query            # 10k and 100k vectors
    .venv/bin/python -m benchmarks.query --million  # also 1M (several minutes, ~3 GB RAM)

For each size, builds the layout :class:`IndexPolicy` picks (with the default ``flat_max``) over
synthetic clustered, L2-normalised 512-d vectors, then times ≥ 200 single-query searches
(top-10), reports p50/p99, recall@10 against exact search and bytes per stored vector, and
sweeps ``nprobe`` to show what a different rule would cost and gain.

IVF k-means is trained on a sample of at most 64 points per list (the project trains on every
vector, and faiss itself samples up to 256 per list); a smaller sample keeps the 1M run short and
changes recall by little.
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np

from indexer.config import IndexConfig
from indexer.vector_store import IndexLayout, IndexPolicy, VectorIndex

DIM = 512
K = 10
TRAIN_POINTS_PER_LIST = 64
LATENT_DIM = 32
SWEEP = (8, 16, 32, 64, 128, 256)
HEADER = "| vectors | layout | nprobe | p50 ms | p99 ms | recall@10 | bytes/vector | build s |"


def clustered_vectors(count: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors of recurring subjects: cluster centres, a 32-d spread of variation around
    each, and isotropic noise. Nearest neighbours have cosine ≈ 0.65–0.7, and their neighbours
    spill over several IVF lists, so recall depends on nprobe as it does for photo vectors
    (cleanly separated blobs would make every nprobe look perfect)."""
    centres = rng.standard_normal((clusters, DIM), dtype=np.float32)
    spread = rng.standard_normal((LATENT_DIM, DIM), dtype=np.float32) / np.sqrt(LATENT_DIM)
    vectors = centres[rng.integers(0, clusters, count)]
    vectors += 1.4 * rng.standard_normal((count, LATENT_DIM), dtype=np.float32) @ spread
    vectors += 0.25 * rng.standard_normal((count, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def build(vectors: np.ndarray, layout: IndexLayout, rng: np.random.Generator) -> VectorIndex:
    ids = np.arange(len(vectors), dtype=np.int64)
    if layout.is_exact:
        return VectorIndex.build(ids, vectors, layout, DIM)
    index = faiss.index_factory(DIM, layout.name, faiss.METRIC_INNER_PRODUCT)
    sample = min(len(vectors), TRAIN_POINTS_PER_LIST * layout.nlist)
    index.train(vectors[rng.choice(len(vectors), sample, replace=False)])
    index.set_direct_map_type(faiss.DirectMap.Hashtable)
    built = VectorIndex(index, layout)
    built.add(ids, vectors)
    return built


def timed_search(index: VectorIndex, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Searches one query at a time, as the bot does; returns (latencies in ms, result ids)."""
    latencies, results = [], []
    for query in queries:
        start = time.perf_counter()
        _, ids = index.search(query[None, :], K)
        latencies.append(1000 * (time.perf_counter() - start))
        results.append(ids[0])
    return np.array(latencies), np.array(results)


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also run 1M vectors")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    sizes = [10_000, 100_000] + ([1_000_000] if args.million else [])
    policy = IndexPolicy(flat_max=IndexConfig().flat_max)
    rng = np.random.default_rng(0)

    print(HEADER)
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    sweep_rows = []
    for size in sizes:
        clusters = max(10, size // 200)
        data = clustered_vectors(size + args.queries, clusters, rng)
        vectors, queries = data[:size], data[size:]
        exact = faiss.IndexFlatIP(DIM)
        exact.add(vectors)
        _, truth = exact.search(queries, K)
        del exact
        layout = policy.layout_for(size)
        start = time.perf_counter()
        index = build(vectors, layout, rng)
        build_seconds = time.perf_counter() - start
        per_vector = len(index.to_bytes()) / size
        probes = [0] if layout.is_exact else [layout.nprobe]
        if not layout.is_exact:
            probes += [
                p for p in (8, 16, 32, 64, 128, 256) if p != layout.nprobe and p < layout.nlist
            ]
        ivf = None if layout.is_exact else faiss.extract_index_ivf(index._index)
        for nprobe in probes:
            if ivf is not None:
                ivf.nprobe = nprobe
            latencies, found = timed_search(index, queries)
            row = (
                f"| {size:,} | {layout.name} | {nprobe or '-'} "
                f"| {np.percentile(latencies, 50):.2f} | {np.percentile(latencies, 99):.2f} "
                f"| {recall_at_k(found, truth):.3f} | {per_vector:.0f} | {build_seconds:.1f} |"
            )
            (print if nprobe == probes[0] else sweep_rows.append)(row)
    if sweep_rows:
        print()
        print("nprobe sweep (same indexes):")
        print()
        print(
            "| vectors | layout | nprobe | p50 ms | p99 ms | recall@10 | bytes/vector | build s |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        for row in sweep_rows:
            print(row)


if __name__ == "__main__":
    main()
