"""Which pictures a filtered search may return: who posted them, when, and what kind they are.

A search's filters (``from:``, ``after:``, ``kind:``…, :class:`~indexer.records.SearchFilters`)
are applied here, before any ranking, as the set of ids the vector index may answer with
(:mod:`indexer.search.searcher`). Every query goes through an index of ``images``: by poster
(``images_by_poster``), by date (``images_by_posted_at``) or by collection.

People are found by the name they go by now: the distinct posters of a collection are walked
along ``images_by_poster`` (one index seek per poster, not a scan of the pictures), and each is
matched by the @username and name of their latest picture, or by their numeric id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from indexer.records import SearchFilters
from indexer.store.database import LIVE, Database

#: Searchable pictures: embedded originals, not forgotten.
_SEARCHABLE = f"status = 'indexed' AND {LIVE}"

#: Every poster of a collection with the @username and name of their latest picture.
_POSTERS = """
WITH RECURSIVE posters(id) AS (
    SELECT min(poster_id) FROM images WHERE collection_id = :collection
    UNION ALL
    SELECT (SELECT min(poster_id) FROM images
            WHERE collection_id = :collection AND poster_id > posters.id)
    FROM posters WHERE posters.id IS NOT NULL
)
SELECT posters.id, latest.poster_username, latest.poster_name
FROM posters JOIN images AS latest ON latest.id = (
    SELECT max(id) FROM images WHERE collection_id = :collection AND poster_id = posters.id
)
WHERE posters.id IS NOT NULL
"""


def poster_matches(wanted: str, poster_id: int, username: str | None, name: str | None) -> bool:
    """Whether ``@name``, ``name`` or a numeric id (as a person wrote it) means this poster.

    ``@ben`` (or ``＠ben``) means the @username only; ``Ben`` the username, the name (any
    case) or the id.
    An empty name or a bare ``@`` means nobody (not everyone without a username or name).
    """
    wanted = wanted.strip().casefold()
    if wanted.startswith(("@", "＠")):  # ＠: as a Chinese input method types it
        return len(wanted) > 1 and wanted[1:] == (username or "").casefold()
    return bool(wanted) and wanted in (
        (username or "").casefold(),
        (name or "").casefold(),
        str(poster_id),
    )


class Selection:
    """The pictures of one collection that pass a search's filters."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def posters_named(self, collection_id: int, names: Sequence[str]) -> dict[str, set[int]]:
        """For each name (``@ben``, ``Ben``, ``12345``), the ids of the collection's posters
        it means (see :func:`poster_matches`); empty sets for names that mean nobody."""
        rows = await self._db.fetchall(_POSTERS, {"collection": collection_id})
        return {
            wanted: {
                int(row[0]) for row in rows if poster_matches(wanted, int(row[0]), row[1], row[2])
            }
            for wanted in names
        }

    async def candidates(
        self, collection_id: int, filters: SearchFilters, poster_ids: Sequence[int] | None
    ) -> np.ndarray:
        """Ids of the collection's pictures passing ``filters`` (``poster_ids``: the posters its
        ``from:`` names mean, None when it names nobody), sorted.

        Forgotten, failed, pending pictures and reposts may be among them: only what the
        vector index holds is ranked, and it holds only searchable pictures. Not asking saves
        reading every row: ``from:`` alone or a date alone is answered from its index alone
        (``images_by_poster``, ``images_by_posted_at`` hold the ids): 10,000 ids of 1M in about
        a millisecond (docs/BENCHMARKS.md).
        """
        conditions, params = _conditions(filters, poster_ids)
        # One string of ids, not a row each: 10,000 rows made 10,000 tuples, and the garbage
        # collector's passes over the model's heap added ~200 ms to one query in fifty.
        row = await self._db.fetchone(
            "SELECT group_concat(id) FROM images WHERE collection_id = ? AND "
            + " AND ".join(conditions),
            (collection_id, *params),
        )
        if row is None or row[0] is None:
            return np.zeros(0, np.int64)
        return np.sort(np.fromstring(row[0], dtype=np.int64, sep=","))

    async def newest(
        self,
        collection_id: int,
        filters: SearchFilters,
        poster_ids: Sequence[int] | None,
        limit: int,
    ) -> list[tuple[float | None, int]]:
        """(posted_at, id) of the ``limit`` most recently posted searchable pictures passing
        ``filters``, newest first (pictures without a date last)."""
        conditions, params = _conditions(filters, poster_ids)
        rows = await self._db.fetchall(
            f"SELECT posted_at, id FROM images WHERE collection_id = ? AND {_SEARCHABLE} AND "
            f"{' AND '.join(conditions)} ORDER BY posted_at DESC, id DESC LIMIT ?",
            (collection_id, *params, limit),
        )
        return [(row[0], int(row[1])) for row in rows]


def _conditions(
    filters: SearchFilters, poster_ids: Sequence[int] | None
) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``images`` (joined by AND) and their parameters, in order."""
    conditions, params = ["1"], []
    if poster_ids is not None:
        conditions.append(f"poster_id IN ({','.join('?' * len(poster_ids))})")
        params += poster_ids
    if filters.after is not None:
        conditions.append("posted_at >= ?")
        params.append(filters.after)
    if filters.before is not None:
        conditions.append("posted_at < ?")
        params.append(filters.before)
    if filters.kinds:
        conditions.append(f"kind IN ({','.join('?' * len(filters.kinds))})")
        params += filters.kinds
    return conditions, params
