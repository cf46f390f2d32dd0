"""IVF recall and latency with the calibrated ``nprobe``, on two kinds of synthetic vectors.

Run from the repository root::

    .venv/bin/python -m benchmarks.recall              # 100k vectors, both generators
    .venv/bin/python -m benchmarks.recall --million    # also 1M (≈ 10 min, ~6 GB RAM)
    .venv/bin/python -m benchmarks.recall --vectors real.npy   # your own (n, 512) float32 vectors
    .venv/bin/python -m benchmarks.recall --million --grown    # a collection that grew to 1M

For each generator and size it builds the layout :class:`IndexPolicy` picks, lets
:meth:`VectorIndex.calibrate` choose ``nprobe`` (on the index's own vectors), then measures on
held-out queries of the same distribution, which the calibration never saw: p50/p99 latency of
single-query top-10 searches, recall@10 against exact search, bytes per vector of the saved
index, build and calibration time. A sweep over ``nprobe`` shows the whole curve, recall at
``nprobe = nlist`` shows what SQ8 quantisation alone costs, and "re-ranked" is recall@10 when
40 SQ8 candidates are rescored with the float vectors (a design option, not in the service).
``--grown`` instead follows a collection that grew to the largest size: its index was built and
calibrated at the last rebuild ``IndexPolicy`` asked for, then took every later picture.

Generators:

* ``clustered``: :func:`benchmarks.query.clustered_vectors`, the one the first measurements used
  (cluster centres, a shared 32-d spread larger than the centres, isotropic noise).
* ``photo``: :func:`photo_vectors`, a model of a group chat's photos in CLIP space: a common
  offset (CLIP image embeddings sit in a narrow cone), topics, events within topics in a
  16-d topic subspace, and photos within events (bursts, near-duplicates) in an 8-d subspace.

IVF k-means is trained on a sample of 64 points per list, as in ``benchmarks/query.py`` (the
service trains on every vector); build time here is thus a lower bound of the service's.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

import faiss
import numpy as np

from benchmarks.query import DIM, K, build, clustered_vectors, recall_at_k
from indexer.config import IndexConfig
from indexer.vectors.faiss_index import IndexPolicy, VectorIndex

RERANK_CANDIDATES = 4 * K
SWEEP = (4, 8, 16, 32, 64, 128, 256)

#: Squared-norm shares of the parts of a ``photo`` vector before normalisation. The common
#: offset makes unrelated photos score ≈ 0.45 (as CLIP ViT-B/32 photos do), photos of one
#: topic ≈ 0.7, of one event 0.8–0.95 depending on how much the event varies.
SHARE_COMMON, SHARE_TOPIC, SHARE_EVENT, SHARE_PHOTO, SHARE_NOISE = 0.45, 0.25, 0.15, 0.10, 0.05
EVENT_DIMS, PHOTO_DIMS = 16, 8


def photo_vectors(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` unit vectors shaped like a group chat's photos, and each one's event number.

    Topics (≈ √n/2, popularity Zipf-like) are directions of their own; an event (a trip, a
    party, a screenshot session) is a point in its topic's 16-d subspace; its photos vary
    around it in the topic's 8-d subspace, by an amount drawn per event (a burst of shots of
    one scene varies little, a day out more), plus a little isotropic noise. Event sizes are
    log-normal (median 2, mean ≈ 4, tail to ~100), so a good share of photos has few or no
    near-duplicates and must find its neighbours among other events of the topic.
    """
    topics = max(20, round(np.sqrt(count) / 2))
    sizes: list[int] = []
    while sum(sizes) < count:
        sizes.extend(np.ceil(np.exp(rng.normal(0.7, 1.0, 4096))).astype(int).tolist())
    sizes_arr = np.array(sizes)
    sizes_arr = sizes_arr[: np.searchsorted(np.cumsum(sizes_arr), count) + 1]
    sizes_arr[-1] -= sizes_arr.sum() - count
    events = np.repeat(np.arange(len(sizes_arr)), sizes_arr)
    popularity = 1.0 / np.arange(1, topics + 1)
    event_topic = rng.choice(topics, len(sizes_arr), p=popularity / popularity.sum())
    event_spread = np.exp(rng.uniform(np.log(0.3), np.log(1.5), len(sizes_arr)))
    photo_topic = event_topic[events]

    def unit(rows: int) -> np.ndarray:
        v = rng.standard_normal((rows, DIM), dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    common = np.sqrt(SHARE_COMMON) * unit(1)
    vectors = np.empty((count, DIM), dtype=np.float32)
    vectors[:] = common
    vectors += np.sqrt(SHARE_TOPIC) * unit(topics)[photo_topic]
    event_offset = np.sqrt(SHARE_EVENT / EVENT_DIMS)
    photo_offset = np.sqrt(SHARE_PHOTO / PHOTO_DIMS)
    for topic in range(topics):
        basis = unit(EVENT_DIMS + PHOTO_DIMS)
        in_topic = np.flatnonzero(event_topic == topic)
        centres = event_offset * rng.standard_normal((len(in_topic), EVENT_DIMS), np.float32)
        lookup = np.full(len(sizes_arr), -1)
        lookup[in_topic] = np.arange(len(in_topic))
        photos = np.flatnonzero(photo_topic == topic)
        photo_events = events[photos]
        variation = photo_offset * rng.standard_normal((len(photos), PHOTO_DIMS), np.float32)
        variation *= event_spread[photo_events, None].astype(np.float32)
        vectors[photos] += centres[lookup[photo_events]] @ basis[:EVENT_DIMS]
        vectors[photos] += variation @ basis[EVENT_DIMS:]
    vectors += np.sqrt(SHARE_NOISE / DIM) * rng.standard_normal((count, DIM), np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    order = rng.permutation(count)
    return vectors[order], events[order]


def generator(name: str) -> Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    if name == "photo":
        return photo_vectors

    def clustered(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return clustered_vectors(count, max(10, count // 200), rng), np.zeros(count, np.int64)

    return clustered


def timed(index: VectorIndex, queries: np.ndarray, repeats: int = 1) -> tuple[float, float]:
    """p50 and p99 in ms of single-query top-10 searches, as the bot sends them (medians over
    ``repeats`` passes through the queries)."""
    for query in queries[:20]:
        index.search(query[None, :], K)
    passes = []
    for _ in range(repeats):
        latencies = []
        for query in queries:
            start = time.perf_counter()
            index.search(query[None, :], K)
            latencies.append(1000 * (time.perf_counter() - start))
        passes.append((np.percentile(latencies, 50), np.percentile(latencies, 99)))
    p50, p99 = np.median(passes, axis=0)
    return float(p50), float(p99)


def reranked(
    index: VectorIndex, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray
) -> float:
    """Recall@10 when ``RERANK_CANDIDATES`` SQ8 results are rescored with float vectors."""
    _, candidates = index.search(queries, RERANK_CANDIDATES)
    scores = np.einsum("qd,qcd->qc", queries, vectors[np.maximum(candidates, 0)])
    scores[candidates < 0] = -np.inf
    best = np.take_along_axis(candidates, np.argsort(-scores, axis=1)[:, :K], axis=1)
    return recall_at_k(best, truth)


def run(
    name: str,
    size: int,
    data: np.ndarray,
    events: np.ndarray,
    queries_n: int,
    seed: int,
    repeats: int,
) -> tuple[str, list[str]]:
    """One generator at one size: the main row and the sweep rows."""
    rng = np.random.default_rng(seed)
    vectors, queries = data[:size], data[size : size + queries_n]
    scores, truth = faiss.knn(queries, vectors, K, faiss.METRIC_INNER_PRODUCT)
    layout = IndexPolicy(flat_max=IndexConfig().flat_max).layout_for(size)
    start = time.perf_counter()
    index = build(vectors, layout, rng)
    build_s = time.perf_counter() - start
    calibration = index.calibrate(np.arange(size), vectors)
    p50, p99 = timed(index, queries, repeats)
    found = index.search(queries, K)[1]
    mates = np.bincount(events[:size], minlength=events.max() + 1)[events[size:]]
    lonely = mates <= 2 if name == "photo" else np.zeros(len(queries), bool)
    lonely_recall = f"{recall_at_k(found[lonely], truth[lonely]):.3f}" if lonely.any() else "-"
    rerank = reranked(index, vectors, queries, truth)
    sweep = []
    for nprobe in sorted({*SWEEP, calibration.max_nprobe, calibration.nprobe, layout.nlist}):
        if nprobe > layout.nlist:
            continue
        index.set_nprobe(nprobe)
        swept = index.search(queries, K)[1]
        latency = timed(index, queries) if nprobe <= 2 * calibration.max_nprobe else None
        sweep.append(
            f"| {name} | {size:,} | {nprobe} | "
            + (f"{latency[0]:.2f} | {latency[1]:.2f}" if latency else "- | -")
            + f" | {recall_at_k(swept, truth):.3f} |"
        )
    index.set_nprobe(calibration.nprobe)
    row = (
        f"| {name} | {size:,} | {layout.name} | {calibration.nprobe}"
        f"{'*' if calibration.capped else ''} | {calibration.max_nprobe} "
        f"| {calibration.recall:.3f} | {calibration.scanned_bytes / 2**20:.1f} "
        f"| {p50:.2f} | {p99:.2f} | {recall_at_k(found, truth):.3f} "
        f"| {lonely_recall} | {rerank:.3f} | {len(index.to_bytes()) / size:.0f} "
        f"| {build_s:.1f} | {calibration.seconds:.1f} "
        f"| {np.median(scores[:, 0]):.2f} / {np.median(scores[:, -1]):.2f} |"
    )
    return row, sweep


def last_rebuild(size: int) -> int:
    """The size at which a collection growing one picture at a time got the layout it has at
    ``size``, as ``IndexPolicy.needs_rebuild`` decides."""
    policy = IndexPolicy(flat_max=IndexConfig().flat_max)
    count = policy.flat_max + 1
    current, built_at = policy.layout_for(count), count
    while count < size:
        count = min(size, count + max(1, count // 200))
        if policy.needs_rebuild(current, count):
            current, built_at = policy.layout_for(count), count
    return built_at


def run_grown(
    name: str, size: int, data: np.ndarray, queries_n: int, seed: int, repeats: int
) -> list[str]:
    """A collection that grew to ``size``: its index was built and calibrated at the last
    rebuild, then took every later picture; also what recalibrating at ``size`` would give."""
    vectors, queries = data[:size], data[size : size + queries_n]
    _, truth = faiss.knn(queries, vectors, K, faiss.METRIC_INNER_PRODUCT)
    built_at = last_rebuild(size)
    layout = IndexPolicy(flat_max=IndexConfig().flat_max).layout_for(built_at)
    index = build(vectors[:built_at], layout, np.random.default_rng(seed))
    rows = []
    for when, count in ((f"built at {built_at:,}", built_at), (f"recalibrated at {size:,}", size)):
        calibration = index.calibrate(np.arange(count), vectors[:count])
        if count == built_at:
            index.add(np.arange(built_at, size), vectors[built_at:])
        scanned = index.scanned_bytes(queries)
        p50, p99 = timed(index, queries, repeats)
        rows.append(
            f"| {name} | {size:,} | {layout.name}, {when} | {calibration.nprobe}"
            f"{'*' if calibration.capped else ''} | {calibration.max_nprobe} "
            f"| {scanned[calibration.nprobe - 1] / 2**20:.1f} | {p50:.2f} | {p99:.2f} "
            f"| {recall_at_k(index.search(queries, K)[1], truth):.3f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also run 1M vectors")
    parser.add_argument("--queries", type=int, default=300, help="held-out queries")
    parser.add_argument(
        "--generators", default="clustered,photo", help="comma-separated: clustered, photo"
    )
    parser.add_argument("--vectors", help=".npy of (n, 512) float32 vectors to use instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (median)")
    parser.add_argument(
        "--grown",
        action="store_true",
        help="instead: a collection grown to the largest size since its last rebuild",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss").setLevel(logging.ERROR)
    runs: list[tuple[str, int]] = []
    if args.vectors:
        runs.append(("file", 0))
    else:
        sizes = [100_000] + ([1_000_000] if args.million else [])
        runs = [(name, size) for size in sizes for name in args.generators.split(",")]
    if args.grown:
        if args.vectors:
            parser.error("--grown works on the generators, not on --vectors")
        print("| data | vectors | index | nprobe | cap | MiB scanned | p50 ms | p99 ms ", end="")
        print("| recall@10 |\n|---|---:|---|---:|---:|---:|---:|---:|---:|")
        size = sizes[-1]
        for name in args.generators.split(","):
            data, _ = generator(name)(size + args.queries, np.random.default_rng(args.seed))
            for row in run_grown(name, size, data, args.queries, args.seed, args.repeats):
                print(row, flush=True)
        return
    print(
        "| data | vectors | layout | nprobe | cap | calib. recall | MiB scanned | p50 ms | p99 ms "
        "| recall@10 | recall, ≤ 2 event-mates | re-ranked | bytes/vector | build s | calib. s "
        "| cos 1st / 10th NN |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    sweeps = []
    for name, size in runs:
        if name == "file":
            data = np.load(args.vectors).astype(np.float32)
            data /= np.linalg.norm(data, axis=1, keepdims=True)
            data = data[np.random.default_rng(args.seed).permutation(len(data))]
            size, events = len(data) - args.queries, np.zeros(len(data), np.int64)
        else:
            data, events = generator(name)(size + args.queries, np.random.default_rng(args.seed))
        row, sweep = run(name, size, data, events, args.queries, args.seed, args.repeats)
        del data
        print(row, flush=True)
        sweeps += sweep
    print("\nnprobe sweep (held-out queries, same indexes):\n")
    print("| data | vectors | nprobe | p50 ms | p99 ms | recall@10 |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(sweeps))


if __name__ == "__main__":
    main()
