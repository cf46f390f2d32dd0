"""Filtered text queries at 1M pictures: ``from:``, ``last:``, ``kind:``, ``sort:new`` and
filters alone, beside the unfiltered query, end to end and by part.

Run from the repository root::

    .venv/bin/python -m benchmarks.filtered_query                 # 1M pictures, 200 queries
    .venv/bin/python -m benchmarks.filtered_query --size 100000   # quicker
    .venv/bin/python -m benchmarks.filtered_query --folder /tmp/f1m   # keep it, measure again

One collection of ``--size`` indexed pictures is written straight into a real SQLite file (as
:mod:`benchmarks.query` does), each with a poster (100 posters, 1 % of the pictures each, with
a name and an @username), a date (one picture every ~63 s over two years back from now) and a
kind (3 % video, 1 % GIF, the rest photos); no captions. Vectors are the clustered synthetic
ones of :mod:`benchmarks.query`. The IVF index is trained on a sample (64 points per list, as
``benchmarks.query`` does: training on all 1M vectors takes longer than the rest of the run on
a shared machine), its ``nprobe`` calibrated as the service does, and written as the index file
the service then opens and checks against SQLite. ViT-B-32 with random weights (bf16) encodes
the queries.

Reported per query kind: ``search_text`` end to end, p50 and p99 over ``--queries`` distinct
queries one at a time, the number of results (k = 10 always comes back when 10 pass), and the
two parts filtering adds, timed alone: the candidate ids read from SQLite (the poster names
resolved, then the ids read through ``images_by_poster`` or ``images_by_posted_at``), and the
FAISS search restricted to them (an ID selector; IVF visits ``nprobe / share`` lists).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import sqlite3
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import torch

from benchmarks.query import (
    COLLECTION,
    DIM,
    TRAIN_POINTS_PER_LIST,
    WARMUP,
    clustered_vectors,
    create_schema,
    ms_percentiles,
    one_at_a_time,
    phrases,
)
from indexer.config import IndexerConfig, ModelConfig
from indexer.model.embedder import Embedder
from indexer.records import PICTURE_VECTORS, SearchFilters
from indexer.search.filters import parse_query
from indexer.service import IndexService
from indexer.store import DATABASE_FILE
from indexer.vectors.backend import faiss_files
from indexer.vectors.faiss_index import IndexPolicy, VectorIndex, trained_ivf

K = 10
POSTERS = 100
#: Two years of pictures, back from now.
SPAN_SECONDS = 2 * 365 * 86400.0
#: The query kinds, as a person types them (the words are added in front of each).
CASES = {
    "no filter": "",
    "from:@poster7 (1 %)": "from:@poster7",
    "last:30d (4 %)": "last:30d",
    "kind:video (3 %)": "kind:video",
    "from:@poster7 sort:new": "from:@poster7 sort:new",
    "from:@poster7 alone (listed by date)": "from:@poster7",
}


def fill_database(path: Path, size: int, model_id: str, rng: np.random.Generator) -> np.ndarray:
    """Writes ``size`` indexed pictures with posters, dates and kinds; returns their vectors."""
    asyncio.run(create_schema(path))
    vectors = clustered_vectors(size, max(10, size // 200), rng)
    now = time.time()
    kinds = rng.choice(["photo", "video", "gif"], size, p=[0.96, 0.03, 0.01])
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO collections (id, name, created_at) VALUES (1, ?, ?)", (COLLECTION, now)
        )
        db.executemany(
            "INSERT INTO images (id, collection_id, source, file_unique_id, sha256, size_bytes, "
            "width, height, message_id, status, added_at, indexed_at, poster_id, poster_name, "
            "poster_username, posted_at, kind) "
            "VALUES (?, 1, ?, ?, ?, 250000, 1280, 960, ?, 'indexed', ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    i + 1,
                    f"telegram:b{i}",
                    f"u{i}",
                    f"{i:064x}",
                    i + 1,
                    now,
                    now,
                    1000 + i % POSTERS,
                    f"Poster {i % POSTERS}",
                    f"poster{i % POSTERS}",
                    now - SPAN_SECONDS * (1 - i / size),
                    str(kinds[i]),
                )
                for i in range(size)
            ),
        )
        db.executemany(
            "INSERT INTO vectors (image_id, model_id, vector) VALUES (?, ?, ?)",
            ((i + 1, model_id, vectors[i].tobytes()) for i in range(size)),
        )
    return vectors


def write_index(config: IndexerConfig, model_id: str, vectors: np.ndarray) -> str:
    """The collection's index file, trained on a sample and calibrated; returns its layout."""
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    layout = IndexPolicy(flat_max=config.index.flat_max).layout_for(len(vectors))
    if layout.is_exact:
        index = VectorIndex.build(ids, vectors, layout, DIM)
    else:
        rng = np.random.default_rng(2)
        sample = min(len(vectors), TRAIN_POINTS_PER_LIST * layout.nlist)
        training = vectors[rng.choice(len(vectors), sample, replace=False)]
        index = VectorIndex(trained_ivf(layout, DIM, training), layout)
        index.add(ids, vectors)
        index.calibrate(ids, vectors)
    faiss_files(config, PICTURE_VECTORS).write(1, model_id, index.to_bytes())
    return index.layout.name + (f", nprobe {index.layout.nprobe}" if index.layout.nlist else "")


async def measure(
    config: IndexerConfig, embedder: Embedder, queries: list[str]
) -> list[tuple[str, str, float, float, int]]:
    """(case, part, p50 ms, p99 ms, results) rows."""
    rows = []
    async with await IndexService.open(config, embedder, embed=False) as service:
        engine = service.engine
        vectors = dict(zip(queries, embedder.encode_texts(queries), strict=True))
        for case, operators in CASES.items():
            alone = case.endswith("(listed by date)")
            filters = parse_query(operators, time.time()).filters

            async def search(
                query: str, filters: SearchFilters = filters, alone: bool = alone
            ) -> object:
                words = "" if alone else query
                return await service.search_text([COLLECTION], words, k=K, filters=filters)

            found = len(await search(queries[0]))  # type: ignore[arg-type]
            p50, p99 = ms_percentiles(await one_at_a_time(search, queries))
            rows.append((case, "end to end (`search_text`, k=10)", p50, p99, found))
            print(f"  {case}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, {found} results", flush=True)
            if not filters.narrows:
                continue

            async def candidates(_: str, filters: SearchFilters = filters) -> np.ndarray:
                selection = engine.store.selection
                posters = None
                if filters.posters:
                    named = await selection.posters_named(1, filters.posters)
                    posters = sorted(set().union(*named.values()))
                return await selection.candidates(1, filters, posters)

            among = await candidates("")
            p50, p99 = ms_percentiles(await one_at_a_time(candidates, queries))
            rows.append((case, f"candidate ids from SQLite ({len(among):,})", p50, p99, 0))
            if alone:
                continue

            async def restricted(query: str, among: np.ndarray = among) -> object:
                return await engine.pictures.search(1, vectors[query][None, :], K, among)

            p50, p99 = ms_percentiles(await one_at_a_time(restricted, queries))
            rows.append((case, "FAISS search among them", p50, p99, 0))
        latencies = await one_at_a_time(
            lambda query: engine.pictures.search(1, vectors[query][None, :], K), queries
        )
        rows.insert(1, ("no filter", "FAISS search", *ms_percentiles(latencies), 0))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--folder",
        type=Path,
        help="keep the data folder here, and measure again a folder an earlier run kept",
    )
    args = parser.parse_args()
    model = ModelConfig(arch="ViT-B-32", pretrained=None, precision="bf16")
    embedder = Embedder.load(model)
    rng = np.random.default_rng(1)
    queries = [f"a {phrase}" for phrase in phrases(args.queries, rng)]
    print(
        f"Filtered queries: ViT-B-32 (random weights) bf16, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), faiss {faiss.__version__}, "
        f"{platform.processor() or platform.machine()}",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        folder = args.folder or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        config = IndexerConfig.model_validate(
            {"model": model.model_dump(), "storage": {"data_dir": folder}}
        )
        if (folder / DATABASE_FILE).exists():
            layout = "the index kept in " + str(folder)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            vectors = fill_database(folder / DATABASE_FILE, args.size, embedder.identity, rng)
            print(f"  {args.size:,} pictures written in {time.perf_counter() - start:.0f} s")
            start = time.perf_counter()
            layout = write_index(config, embedder.identity, vectors)
            del vectors
            print(f"  index {layout} built in {time.perf_counter() - start:.0f} s", flush=True)
        rows = asyncio.run(measure(config, embedder, queries))
    print()
    print(f"{args.size:,} pictures, {layout}; {len(queries)} distinct queries, {WARMUP} warm-up:")
    print()
    print("| query | part | p50 ms | p99 ms | results |")
    print("|---|---|---:|---:|---:|")
    for case, part, p50, p99, found in rows:
        print(f"| {case} | {part} | {p50:.2f} | {p99:.2f} | {found or ''} |")


if __name__ == "__main__":
    main()
