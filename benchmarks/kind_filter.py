"""kind: filter candidates at 1 M pictures, without and with the index by kind (schema 11).

Only the SQLite query that names the pictures a ``kind:video`` search may return (the one
:meth:`indexer.store.selection.Selection.candidates` runs), on a table of 1 M rows of which 3 %
are clips, shaped like ``images``; the FAISS search among them is measured by
``benchmarks/filtered_query.py``. Run: ``python -m benchmarks.kind_filter``.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

ROWS = 1_000_000
CANDIDATES = "SELECT group_concat(id) FROM images WHERE collection_id = ? AND 1 AND kind IN (?, ?)"


def fill(db: sqlite3.Connection) -> None:
    """1 M rows of one collection, 3 % of them clips, with the indexes of schema 10."""
    db.execute(
        "CREATE TABLE images (id INTEGER PRIMARY KEY, collection_id INTEGER, kind TEXT, "
        "poster_id INTEGER, posted_at REAL, deleted INTEGER, status TEXT, source TEXT)"
    )
    rng = random.Random(1)
    db.executemany(
        "INSERT INTO images VALUES (?, 1, ?, ?, ?, 0, 'indexed', ?)",
        (
            (i, "video" if rng.random() < 0.03 else "photo", rng.randrange(100), i * 60.0, f"{i}")
            for i in range(1, ROWS + 1)
        ),
    )
    db.execute("CREATE INDEX images_by_poster ON images(collection_id, poster_id)")
    db.execute("CREATE INDEX images_by_posted_at ON images(collection_id, posted_at)")
    db.execute("ANALYZE")
    db.commit()


def p50_ms(db: sqlite3.Connection, rounds: int = 30) -> float:
    """Median milliseconds of the candidates' query."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        db.execute(CANDIDATES, (1, "video", "video_note")).fetchone()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = sqlite3.connect(Path(folder) / "images.sqlite3")
        fill(db)
        without = p50_ms(db)
        db.execute("CREATE INDEX images_by_kind ON images(collection_id, kind)")
        db.execute("ANALYZE")
        with_index = p50_ms(db)
        print(f"kind:video candidates at {ROWS:,} pictures (3 % clips), p50 of 30:")
        print(f"  without images_by_kind  {without:7.1f} ms")
        print(f"  with images_by_kind     {with_index:7.1f} ms  ({without / with_index:.0f}x)")
        db.close()


if __name__ == "__main__":
    main()
