"""How long the worker takes to pick its next batch (``Queue.next_pending``) behind a backlog.

200,000 pending pictures of two chats, from 50 posters or from none (as the CLI indexes), are
written straight into a new data folder's SQLite file; then the next batch of 32 is picked
twice. Run: ``python -m benchmarks.next_pending``.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from indexer.store import DATABASE_FILE, Store

PENDING = 200_000
BATCH = 32


async def pick_times(posters: int | None) -> list[float]:
    """Milliseconds of two picks behind the backlog (``posters`` None: no poster at all)."""
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        store = await Store.open_in(data)
        for name in ("a", "b"):
            await store.collections.ensure(name)
        await store.close()
        rng = random.Random(1)
        with sqlite3.connect(data / DATABASE_FILE) as db:
            db.executemany(
                "INSERT INTO images (collection_id, source, status, added_at, poster_id) "
                "VALUES (?, ?, 'pending', 0, ?)",
                (
                    (1 + i % 2, f"file:/x/{i}", None if posters is None else rng.randrange(posters))
                    for i in range(PENDING)
                ),
            )
        store = await Store.open_in(data)
        try:
            times = []
            for _ in range(2):
                start = time.perf_counter()
                await store.queue.next_pending(BATCH, ["file"])
                times.append(1000 * (time.perf_counter() - start))
            return times
        finally:
            await store.close()


def main() -> None:
    for posters in (50, None):
        times = asyncio.run(pick_times(posters))
        who = f"{posters} posters" if posters else "no poster"
        print(f"{PENDING:,} pending, {who}: " + ", ".join(f"{t:.0f} ms" for t in times))


if __name__ == "__main__":
    main()
