"""Query latency at collection sizes the bot may reach: FAISS alone, and text queries end to end.

Run from the repository root::

    .venv/bin/python -m benchmarks.query                  # 10k and 100k: FAISS, then end to end
    .venv/bin/python -m benchmarks.query --only faiss     # or --only service
    .venv/bin/python -m benchmarks.query --million        # also 1M: FAISS several minutes; end
                                                          # to end ~8 GB RAM and slow (3 q/s),
    # so for 1M end to end alone (≈ 15 min):
    .venv/bin/python -m benchmarks.query --only service --sizes 1000000 --queries 200 --rounds 1

End to end also times the plain ``model.encode_text(tokenizer([query]))`` call (fp32, 77
tokens) over the same queries, and reports the end-to-end p50 as a multiple of it.

**FAISS.** For each size, builds the layout :class:`IndexPolicy` picks (with the default
``flat_max``) over synthetic clustered, L2-normalised 512-d vectors, then times ≥ 200
single-query searches (top-10), reports p50/p99, recall@10 against exact search and bytes per
stored vector, and sweeps ``nprobe`` to show what a different rule would cost and gain.
IVF k-means is trained on a sample of at most 64 points per list (the project trains on every
vector, and faiss itself samples up to 256 per list); a smaller sample keeps the 1M run short and
changes recall by little.

**End to end.** For each size, one collection of that many indexed pictures (a share of them
with a caption, ``--caption-share``) is written straight into a real SQLite file: the schema
comes from :class:`~indexer.store.Store`, the rows from one bulk insert, because the real
``add_image`` → embed → ``mark_indexed`` path would take hours at 100k. Vectors are the same
synthetic clustered ones. A real :class:`IndexService` then opens the folder (building its FAISS
indexes from SQLite, as after a lost index file) with ViT-B-32 at random weights
(``--precision``, bf16 by default), and ``search_text`` is timed: tokenise + text encode +
caption/tag match + vector search + metadata fetch. Reported: p50/p99 over ``--queries``
distinct queries one at a time, with the parts timed alone, and queries/second with 1, 8 and
32 searches in flight, query micro-batching off and on, interleaved in the same run
(``--rounds`` rounds; medians), with the texts per model call that batching reached.

Length (over ~350 lines, on purpose): the FAISS-only and end-to-end tables share their data
generators and timing helpers, and docs/BENCHMARKS.md cites this one command for both.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import faiss
import numpy as np
import open_clip
import torch

from benchmarks.default_model import build_default, default_embedder
from benchmarks.embed import QUERY, photo_jpegs
from indexer.config import IndexConfig, IndexerConfig, LimitsConfig, ModelConfig
from indexer.embed.model_thread import BULK
from indexer.embed.pipeline import EmbeddingPipeline
from indexer.model.embedder import Embedder
from indexer.service import IndexService
from indexer.store import DATABASE_FILE, Store
from indexer.vectors.faiss_index import IndexLayout, IndexPolicy, VectorIndex, trained_ivf

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
    sample = min(len(vectors), TRAIN_POINTS_PER_LIST * layout.nlist)
    training = vectors[rng.choice(len(vectors), sample, replace=False)]
    built = VectorIndex(trained_ivf(layout, DIM, training), layout)
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


def faiss_search(sizes: Sequence[int], query_count: int) -> None:
    """The FAISS table: latency, recall and size of the layout the policy picks, per size."""
    policy = IndexPolicy(flat_max=IndexConfig().flat_max)
    rng = np.random.default_rng(0)

    print(HEADER)
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    sweep_rows = []
    for size in sizes:
        clusters = max(10, size // 200)
        data = clustered_vectors(size + query_count, clusters, rng)
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
        for nprobe in probes:
            if not layout.is_exact:
                index.set_nprobe(nprobe)
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


# End to end: text queries through a real IndexService over a real SQLite file.

COLLECTION = "bench"
ADJECTIVES = ("red", "blue", "green", "old", "small", "happy", "sleepy", "wet", "shiny", "wooden")
SUBJECTS = ("dog", "cat", "car", "bicycle", "house", "tree", "child", "boat", "cake", "guitar")
PLACES = (
    "on the beach",
    "in the snow",
    "at night",
    "in the kitchen",
    "in a park",
    "on a roof",
    "at a wedding",
    "in the rain",
)
#: Captions use other words than queries: neither contains the other, so the word match finds
#: none, as for most real queries (before schema 5 it read every caption to find that out).
EVENTS = ("birthday", "holiday", "wedding", "graduation", "trip", "picnic", "concert", "reunion")
CITIES = ("Lisbon", "Oslo", "Kyoto", "Lima", "Accra", "Hanoi", "Quebec", "Tartu", "Perth", "Cusco")
CONCURRENCY = (1, 8, 32)
WARMUP = 10


def phrases(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` short descriptions ("wet dog on the beach"), distinct while they last."""
    combos = [" ".join(words) for words in itertools.product(ADJECTIVES, SUBJECTS, PLACES)]
    picks = rng.permutation(max(count, len(combos)))[:count] % len(combos)
    return [combos[i] for i in picks]


def captions(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` captions like "picnic in Oslo 2017"."""
    events = rng.choice(EVENTS, count)
    cities = rng.choice(CITIES, count)
    years = rng.integers(2010, 2025, count)
    return [f"{e} in {c} {y}" for e, c, y in zip(events, cities, years, strict=True)]


async def create_schema(path: Path) -> None:
    store = await Store.open(path)
    await store.close()


def fill_database(
    path: Path,
    size: int,
    model_id: str,
    caption_share: float,
    rng: np.random.Generator,
) -> int:
    """Writes ``size`` indexed pictures of one collection, with vectors, straight into SQLite;
    a share of them get a caption (with a vector too). Returns the number of captions.

    The service then opens the file as it would after a restart (which refreshes SQLite's
    planner statistics, see ``Database.open``).
    """
    asyncio.run(create_schema(path))
    vectors = clustered_vectors(size, max(10, size // 200), rng)
    captioned = np.sort(rng.choice(size, int(caption_share * size), replace=False))
    caption_of = dict(zip(captioned.tolist(), captions(len(captioned), rng), strict=True))
    caption_vectors = clustered_vectors(len(captioned), max(10, len(captioned) // 200), rng)
    now = time.time()
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO collections (id, name, created_at) VALUES (1, ?, ?)", (COLLECTION, now)
        )
        db.executemany(
            "INSERT INTO images (id, collection_id, source, file_unique_id, sha256, size_bytes, "
            "width, height, message_id, caption, status, added_at, indexed_at) "
            "VALUES (?, 1, ?, ?, ?, 250000, 1280, 960, ?, ?, 'indexed', ?, ?)",
            (
                (i + 1, f"telegram:b{i}", f"u{i}", f"{i:064x}", i + 1, caption_of.get(i), now, now)
                for i in range(size)
            ),
        )
        db.executemany(
            "INSERT INTO vectors (image_id, model_id, vector) VALUES (?, ?, ?)",
            ((i + 1, model_id, vectors[i].tobytes()) for i in range(size)),
        )
        db.executemany(
            "INSERT INTO texts (id, image_id, kind, text, folded, added_at) "
            "VALUES (?, ?, 'caption', ?, ?, ?)",
            (
                (n + 1, int(i) + 1, caption_of[int(i)], caption_of[int(i)].casefold(), now)
                for n, i in enumerate(captioned)
            ),
        )
        db.executemany(
            "INSERT INTO text_vectors (text_id, model_id, vector) VALUES (?, ?, ?)",
            ((n + 1, model_id, v.tobytes()) for n, v in enumerate(caption_vectors)),
        )
    return len(captioned)


class CountingEmbedder:
    """The real embedder, counting text-encoding calls and texts (texts per model call)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.calls = 0
        self.texts = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return self.inner.encode_texts(texts)


def ms_percentiles(latencies: Sequence[float]) -> tuple[float, float]:
    return float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99))


async def one_at_a_time(
    run: Callable[[str], Awaitable[object]], queries: Sequence[str]
) -> list[float]:
    """Milliseconds of ``run(query)`` for each query in turn, after a few untimed ones."""
    for query in queries[:WARMUP]:
        await run(query)
    latencies = []
    for query in queries:
        start = time.perf_counter()
        await run(query)
        latencies.append(1000 * (time.perf_counter() - start))
    return latencies


async def in_flight(
    service: IndexService, queries: Sequence[str], concurrency: int
) -> tuple[float, list[float]]:
    """Queries/second and latencies (ms) with ``concurrency`` searches always in flight."""
    pending = iter(queries)
    latencies: list[float] = []

    async def client() -> None:
        for query in pending:
            start = time.perf_counter()
            await service.search_text([COLLECTION], query, k=K)
            latencies.append(1000 * (time.perf_counter() - start))

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return len(queries) / (time.perf_counter() - start), latencies


async def measure_service(
    config: IndexerConfig,
    embedder: CountingEmbedder,
    queries: list[str],
    rounds: int,
    concurrency: Sequence[int] = CONCURRENCY,
) -> tuple[
    float, str, list[tuple[str, float, float]], list[tuple[int, bool, float, float, float, float]]
]:
    """(open seconds, picture layout, (part, p50, p99) rows, throughput rows)."""
    start = time.perf_counter()
    service = await IndexService.open(config, embedder)  # type: ignore[arg-type]
    open_seconds = time.perf_counter() - start
    try:
        await service.wait_idle()
        layout = (await service.stats(COLLECTION)).index_type
        # The parts of search_text, timed alone, every query encoded (none from memory).
        engine = service.engine
        pipeline, store = engine.pipeline, engine.store
        pipeline.reuse_query_vectors = False
        collection_id = 1
        vectors = dict(zip(queries, embedder.inner.encode_texts(queries), strict=True))
        found = {
            q: (await engine.pictures.search(collection_id, vectors[q][None, :], K))[1][0].tolist()
            for q in queries
        }
        parts: dict[str, Callable[[str], Awaitable[object]]] = {
            "end to end (`search_text`, k=10)": lambda q: service.search_text([COLLECTION], q, k=K),
            "text encode (tokenise + text tower)": lambda q: pipeline.embed_texts([q]),
            "picture vector search (FAISS)": lambda q: engine.pictures.search(
                collection_id, vectors[q][None, :], 2 * K
            ),
            "caption vector search (FAISS)": lambda q: engine.texts.search(
                collection_id, vectors[q][None, :], K
            ),
            "caption/tag word match (SQLite indexes)": lambda q: store.texts.containing(
                [collection_id], q, K
            ),
            "metadata fetch (10 records)": lambda q: store.pictures.images(found[q]),
        }
        part_rows = []
        for name, run in parts.items():
            p50, p99 = ms_percentiles(await one_at_a_time(run, queries))
            part_rows.append((name, p50, p99))
            print(f"    {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
        pipeline.reuse_query_vectors = True
        for query in queries:  # asked once: the More button and repeated questions follow
            await pipeline.embed_texts([query])
        name = "a query asked again, end to end (its vector kept)"
        p50, p99 = ms_percentiles(
            await one_at_a_time(lambda q: service.search_text([COLLECTION], q, k=K), queries)
        )
        part_rows.append((name, p50, p99))
        print(f"    {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
        pipeline.reuse_query_vectors = False

        samples: dict[tuple[int, bool], list[tuple[float, list[float], float]]] = {}
        for _ in range(rounds):
            for in_flight_count in concurrency:
                for batching in (False, True):
                    pipeline.batch_queries = batching
                    embedder.calls = embedder.texts = 0
                    qps, latencies = await in_flight(service, queries, in_flight_count)
                    per_call = embedder.texts / max(1, embedder.calls)
                    samples.setdefault((in_flight_count, batching), []).append(
                        (qps, latencies, per_call)
                    )
        pipeline.batch_queries = True
        pipeline.reuse_query_vectors = True
        throughput_rows = []
        for (in_flight_count, batching), runs in samples.items():
            qps = statistics.median(run[0] for run in runs)
            p50, p99 = ms_percentiles([ms for run in runs for ms in run[1]])
            per_call = statistics.median(run[2] for run in runs)
            throughput_rows.append((in_flight_count, batching, qps, p50, p99, per_call))
            print(
                f"    {in_flight_count} in flight, batching {'on' if batching else 'off'}: "
                f"{qps:.1f} q/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, {per_call:.1f} texts/call",
                flush=True,
            )
        return open_seconds, layout, part_rows, throughput_rows
    finally:
        await service.close()


async def query_behind_burst(
    embedder: Embedder, jpegs: Sequence[bytes], repeats: int
) -> dict[str, list[float]]:
    """Milliseconds of one text query sent while a burst of pictures is queued for the model.

    The pipeline queues a burst's calls (8 pictures each) at once. In the query lane the query
    waits for the call in progress only; sent at the pictures' priority (``run_model(...,
    priority=BULK)``), it waits behind every queued call, as it would in a FIFO model thread.
    """
    pipeline = EmbeddingPipeline(embedder, LimitsConfig())
    pipeline.reuse_query_vectors = False
    items = list(enumerate(jpegs))
    lanes: dict[str, Callable[[], Awaitable[object]]] = {
        "query lane (now)": lambda: pipeline.embed_texts([QUERY]),
        "behind the pictures (FIFO, before)": lambda: pipeline.run_model(
            embedder.encode_texts, [QUERY], priority=BULK
        ),
    }
    latencies: dict[str, list[float]] = {lane: [] for lane in lanes}
    try:
        for _ in range(repeats):
            for lane, ask in lanes.items():
                burst = asyncio.ensure_future(pipeline.embed(items))
                while pipeline.queued_model_calls == 0 and not burst.done():
                    await asyncio.sleep(0.002)  # decoding first, in other threads
                start = time.perf_counter()
                await ask()
                latencies[lane].append(1000 * (time.perf_counter() - start))
                await burst
    finally:
        pipeline.close()
    return latencies


def plain_text_ms(default_model: bool, queries: Sequence[str]) -> float:
    """p50 ms of the textbook query call, ``model.encode_text(tokenizer([query]))`` in fp32
    (77 tokens, no trim, no service), over ``queries`` one at a time: the baseline that the
    end-to-end p50 is compared with in the same run."""
    with tempfile.TemporaryDirectory() as work:
        if default_model:
            loaded = build_default(Path(work))
            model, tokenizer = loaded.model, loaded.tokenizer
        else:
            model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
            tokenizer = open_clip.get_tokenizer("ViT-B-32")
    latencies = []
    with torch.no_grad():
        for query in [*queries[:WARMUP], *queries]:
            start = time.perf_counter()
            model.encode_text(tokenizer([query]))
            latencies.append(1000 * (time.perf_counter() - start))
    return ms_percentiles(latencies[WARMUP:])[0]


def end_to_end(
    sizes: Sequence[int],
    query_count: int,
    precision: str,
    caption_share: float,
    rounds: int,
    default_model: bool = False,
    text_runtime: str = "auto",
) -> None:
    """The end-to-end tables: one query at a time (with parts), and queries/second."""
    model = ModelConfig(
        arch="ViT-B-32", pretrained=None, precision=precision, text_runtime=text_runtime
    )
    if default_model:
        with tempfile.TemporaryDirectory() as work:
            embedder = CountingEmbedder(default_embedder(precision, Path(work), text_runtime))
    else:
        embedder = CountingEmbedder(Embedder.load(model))
    rng = np.random.default_rng(1)
    queries = [f"a {phrase}" for phrase in phrases(query_count, rng)]
    name = "xlm-roberta-base-ViT-B-32" if default_model else "ViT-B-32"
    print(
        f"\nEnd to end: {name} (random weights) {precision}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), open_clip {open_clip.__version__}, "
        f"faiss {faiss.__version__}, {platform.processor() or platform.machine()}; "
        f"text tower: {embedder.inner.text_runtime}; load {os.getloadavg()}",
        flush=True,
    )
    burst = asyncio.run(query_behind_burst(embedder.inner, photo_jpegs(8) * 8, rounds * 2))
    plain_ms = plain_text_ms(default_model, queries)
    print(f"  plain open_clip text call (fp32, 77 tokens): p50 {plain_ms:.2f} ms", flush=True)
    latency_rows, throughput_rows = [], []
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            data_dir = Path(folder)
            start = time.perf_counter()
            caption_count = fill_database(
                data_dir / DATABASE_FILE, size, embedder.identity, caption_share, rng
            )
            print(
                f"  {size:,} pictures, {caption_count:,} captions written in "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
            config = IndexerConfig.model_validate(
                {"model": model.model_dump(), "storage": {"data_dir": data_dir}}
            )
            open_s, layout, parts, throughput = asyncio.run(
                measure_service(config, embedder, queries, rounds)
            )
        print(f"  opened (indexes built from SQLite) in {open_s:.1f} s; layout {layout}")
        latency_rows += [(size, caption_count, layout, *part) for part in parts]
        throughput_rows += [(size, *row) for row in throughput]

    print()
    print("One text query while 64 photos (8 model calls) are queued for the model:")
    print()
    print("| model thread | queries | p50 ms | max ms |")
    print("|---|---:|---:|---:|")
    for lane, latencies in burst.items():
        print(
            f"| {lane} | {len(latencies)} | {statistics.median(latencies):.0f} "
            f"| {max(latencies):.0f} |"
        )
    print()
    print(f"Text queries one at a time ({len(queries)} distinct, {WARMUP} warm-up):")
    print()
    print("| pictures | captions | picture index | part | p50 ms | p99 ms |")
    print("|---:|---:|---|---|---:|---:|")
    for size, captions, layout, name, p50, p99 in latency_rows:
        print(f"| {size:,} | {captions:,} | {layout} | {name} | {p50:.2f} | {p99:.2f} |")
        if name.startswith("end to end"):
            print(f"|  |  |  | end to end ÷ plain open_clip text call | {p50 / plain_ms:.2f}x | |")
    print()
    print(f"Plain open_clip text call (fp32, 77 tokens, same queries): p50 {plain_ms:.2f} ms")
    print(f"Load after the one-at-a-time runs: {os.getloadavg()}")
    print()
    print(f"Queries/second ({len(queries)} queries a run, median of {rounds} rounds):")
    print()
    print(
        "| pictures | in flight | batching | queries/s | p50 ms | p99 ms | texts/model call "
        "| on ÷ off |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    off = {(r[0], r[1]): r[3] for r in throughput_rows if not r[2]}
    for size, concurrency, batching, qps, p50, p99, per_call in throughput_rows:
        ratio = f"{qps / off[size, concurrency]:.2f}" if batching else ""
        print(
            f"| {size:,} | {concurrency} | {'on' if batching else 'off'} | {qps:.1f} | {p50:.1f} "
            f"| {p99:.1f} | {per_call:.1f} | {ratio} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also run 1M pictures")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--only", choices=("faiss", "service"), help="run one part only")
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--caption-share", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", help="comma-separated sizes instead, e.g. 2000,20000")
    parser.add_argument(
        "--default-model",
        action="store_true",
        help="end to end with xlm-roberta-base-ViT-B-32 (random weights) instead of ViT-B-32",
    )
    parser.add_argument(
        "--text-runtime",
        choices=("auto", "torch", "onnx-int8"),
        default="auto",
        help="model.text_runtime (auto: ONNX Runtime int8 for the default model's XLM-R)",
    )
    args = parser.parse_args()
    sizes = [10_000, 100_000] + ([1_000_000] if args.million else [])
    if args.sizes:
        sizes = [int(size) for size in args.sizes.split(",")]
    if args.only != "service":
        faiss_search(sizes, args.queries)
    if args.only != "faiss":
        end_to_end(
            sizes,
            args.queries,
            args.precision,
            args.caption_share,
            args.rounds,
            args.default_model,
            args.text_runtime,
        )


if __name__ == "__main__":
    main()
