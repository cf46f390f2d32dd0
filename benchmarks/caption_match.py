"""Matching a query's words against a collection's captions and tags: indexed against read.

Run from the repository root::

    .venv/bin/python -m benchmarks.caption_match                      # 10k and 100k captions
    .venv/bin/python -m benchmarks.caption_match --sizes 100000 --queries 200

For each size, one collection with that many captions ("picnic in Oslo 2017", as in
``benchmarks.query``) is written into a real SQLite file whose schema comes from
:class:`~indexer.store.Store` (so the trigram index and the index on the folded text are filled
by the schema's own triggers). Then the same queries are timed, interleaved in rounds, through
``Texts.containing`` (what every text search runs) and through the single statement that read
every caption before the indexes existed (on a plain connection, which favours it slightly).
Queries are short descriptions ("wet dog on the beach") that share no words with the
captions, as most real queries, plus a few that do; both ways must return the same texts,
which the benchmark checks. Reported: p50 / p99 ms each and the ratio of the p50s.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.query import captions, create_schema, phrases
from indexer.store import DATABASE_FILE, Store
from indexer.store.word_match import contains_words

#: The statement that matched captions before schema 5: it reads every caption of the
#: collections (SQLite's ``instr`` first, the word check on its hits).
READ_EVERY_TEXT = (
    "SELECT texts.id FROM texts JOIN images ON images.id = texts.image_id "
    "WHERE images.collection_id = 1 AND deleted = 0 AND repost_of IS NULL "
    "AND status IN ('pending', 'indexed') AND ("
    "(length(:query) >= 2 AND instr(texts.folded, :query) > 0 "
    "AND contains_words(texts.folded, :query)) OR "
    "(length(texts.folded) >= 2 AND instr(:query, texts.folded) > 0 "
    "AND contains_words(:query, texts.folded))"
    ") ORDER BY texts.id LIMIT :limit"
)
LIMIT = 20
#: Queries that do share words with some captions.
MATCHING = ("picnic in oslo", "oslo", "a trip to kyoto in 2019", "夜景")
ROUNDS = 3


def fill(path: Path, size: int, rng: np.random.Generator) -> None:
    """``size`` indexed pictures of collection 1, each with a caption."""
    now = time.time()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO collections (id, name, created_at) VALUES (1, 'c', ?)", (now,))
        db.executemany(
            "INSERT INTO images (id, collection_id, source, status, added_at) "
            "VALUES (?, 1, ?, 'indexed', ?)",
            ((i + 1, f"telegram:b{i}", now) for i in range(size)),
        )
        db.executemany(
            "INSERT INTO texts (id, image_id, kind, text, folded, added_at) "
            "VALUES (?, ?, 'caption', ?, ?, ?)",
            ((i + 1, i + 1, c, c.casefold(), now) for i, c in enumerate(captions(size, rng))),
        )


async def measure(size: int, queries: int) -> tuple[list[float], list[float], int]:
    """Milliseconds per query (indexed, read), and how many queries found something."""
    rng = np.random.default_rng(0)
    asked = [*phrases(queries - len(MATCHING), rng), *MATCHING]
    indexed: list[float] = []
    read: list[float] = []
    found = 0
    with tempfile.TemporaryDirectory() as folder:
        await create_schema(Path(folder) / DATABASE_FILE)
        fill(Path(folder) / DATABASE_FILE, size, rng)
        store = await Store.open_in(Path(folder))
        # The old statement runs on a plain connection in this thread: no hop to aiosqlite's
        # thread, which favours it by a few hundredths of a millisecond.
        reader = sqlite3.connect(Path(folder) / DATABASE_FILE)
        reader.create_function("contains_words", 2, contains_words, deterministic=True)
        try:
            for _ in range(ROUNDS):
                for query in asked:
                    started = time.perf_counter()
                    texts = await store.texts.containing([1], query, LIMIT)
                    indexed.append(1000 * (time.perf_counter() - started))
                    started = time.perf_counter()
                    rows = reader.execute(
                        READ_EVERY_TEXT, {"query": query.casefold(), "limit": LIMIT}
                    ).fetchall()
                    read.append(1000 * (time.perf_counter() - started))
                    if [t.id for t in texts] != [int(row[0]) for row in rows]:
                        raise AssertionError(f"the two ways disagree on {query!r}")
                    found += bool(texts)
        finally:
            reader.close()
            await store.close()
    return indexed, read, found // ROUNDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="captions, comma-separated")
    parser.add_argument("--queries", type=int, default=100, help="distinct queries per size")
    args = parser.parse_args()
    print("| captions | indexed p50 / p99 ms | read every caption p50 / p99 ms | read ÷ indexed |")
    print("|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        indexed, read, found = asyncio.run(measure(size, args.queries))
        p50 = statistics.median(indexed), statistics.median(read)
        print(
            f"| {size:,} | {p50[0]:.2f} / {np.percentile(indexed, 99):.2f} | "
            f"{p50[1]:.2f} / {np.percentile(read, 99):.2f} | {p50[1] / p50[0]:.0f}× |"
            f"  ({found} of {args.queries} queries found captions)"
        )


if __name__ == "__main__":
    main()
