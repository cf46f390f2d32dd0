"""The source of truth: every fact the indexer keeps, behind one :class:`Store`.

One module per concern, all sharing one connection and one write transaction
(:mod:`indexer.store.database`):

* :mod:`~indexer.store.collections`: collections and who opted out of each;
* :mod:`~indexer.store.queue`: pictures handed over, queued, embedded or given up on;
* :mod:`~indexer.store.pictures`: reading stored pictures, forgetting them;
* :mod:`~indexer.store.selection`: which pictures a filtered search may return;
* :mod:`~indexer.store.vectors`: the vectors every index is built and repaired from;
* :mod:`~indexer.store.texts`: captions and tags;
* :mod:`~indexer.store.readings`: which pictures had their words read (the words are texts);
* :mod:`~indexer.store.calibrations`: each model's calibrated similarity thresholds;
* :mod:`~indexer.store.health`: SQLite's integrity check, orphaned rows, online backups.

The seam for a second backend (a server database shared by several machines): everything
above this package uses only the parts' methods, which take and return
:mod:`indexer.records` values and plain ids, never SQL or rows. Another backend provides the
same parts and an ``open``/``close``; nothing outside ``indexer/store/`` changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from indexer.store.calibrations import Calibrations
from indexer.store.collections import Collections
from indexer.store.database import DATABASE_FILE, Database
from indexer.store.health import Health
from indexer.store.pictures import Pictures
from indexer.store.queue import Queue
from indexer.store.readings import Readings
from indexer.store.selection import Selection
from indexer.store.texts import Texts
from indexer.store.vectors import Vectors

__all__ = ["DATABASE_FILE", "Store"]


@dataclass(frozen=True)
class Store:
    """The SQLite store, one attribute per concern."""

    collections: Collections
    pictures: Pictures
    selection: Selection
    queue: Queue
    vectors: Vectors
    texts: Texts
    readings: Readings
    calibrations: Calibrations
    health: Health
    _database: Database

    @classmethod
    async def open(cls, path: Path) -> Store:
        """Opens (creating or migrating) the database file at ``path``."""
        db = await Database.open(path)
        return cls(
            Collections(db),
            Pictures(db),
            Selection(db),
            Queue(db),
            Vectors(db),
            Texts(db),
            Readings(db),
            Calibrations(db),
            Health(db),
            db,
        )

    @classmethod
    async def open_in(cls, data_dir: Path) -> Store:
        """Opens the database of a data folder (``storage.data_dir``)."""
        return await cls.open(data_dir / DATABASE_FILE)

    @property
    def writes_committed(self) -> int:
        """Write transactions committed since opening (it grows while storing works)."""
        return self._database.writes_committed

    async def close(self) -> None:
        """Closes the connection; committed data is safe on disk."""
        await self._database.close()
