"""What the command line prints: search results and collection statistics."""

from __future__ import annotations

from datetime import datetime

from indexer.records import CollectionStats, SearchHit


def print_hits(hits: list[SearchHit]) -> None:
    if not hits:
        print("no matching pictures")
    for rank, hit in enumerate(hits, 1):
        image = hit.image
        where = image.source.partition(":")[2] if image.source.startswith("file:") else image.source
        extras = [f"id {image.id}"]
        if image.caption:
            extras.append(repr(image.caption))
        print(f"{rank:2d}. {hit.score:.3f}  {where}  ({', '.join(extras)})")


def print_stats(stats: CollectionStats) -> None:
    last = (
        datetime.fromtimestamp(stats.last_indexed_at).isoformat(timespec="seconds")
        if stats.last_indexed_at
        else "never"
    )
    print(f"collection {stats.name}")
    print(
        f"  pictures {stats.images} (+{stats.reposts} reposts), pending {stats.pending}, "
        f"failed {stats.failed}, forgotten {stats.forgotten}"
    )
    print(
        f"  model {stats.model}"
        + (f" ({stats.needs_reindex} pictures need `reindex`)" if stats.needs_reindex else "")
    )
    print(
        f"  index {stats.index_type}, {stats.index_vectors} vectors, "
        f"{stats.index_bytes:,} bytes on disk; last indexed {last}"
    )
    print(f"  thresholds {stats.thresholds.describe()}")
