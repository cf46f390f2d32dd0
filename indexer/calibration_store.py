"""The ``model_calibrations`` table: each model's calibrated thresholds, by model identity.

Calibrating the default model embeds a few hundred texts (seconds on a CPU), so it is done once
per model and data folder and kept here; a calibration made by another method (other phrases,
another rule: :func:`indexer.calibration.method_id`) is measured again.
"""

from __future__ import annotations

import asyncio
import time

import aiosqlite

from indexer.calibration import Calibration

#: The schema migration that creates the table (applied by the metadata store's migrations).
SCHEMA = """
    CREATE TABLE model_calibrations (
        model_id     TEXT PRIMARY KEY,
        method       TEXT NOT NULL,
        calibration  TEXT NOT NULL,
        measured_at  REAL NOT NULL
    );
"""


class CalibrationTable:
    """Reads and writes calibrations on the metadata store's connection."""

    def __init__(self, db: aiosqlite.Connection, write_lock: asyncio.Lock) -> None:
        self._db = db
        self._write_lock = write_lock

    async def get(self, model_id: str, method: str) -> Calibration | None:
        """The stored calibration of ``model_id`` made by ``method``, if there is one."""
        async with self._db.execute(
            "SELECT calibration FROM model_calibrations WHERE model_id = ? AND method = ?",
            (model_id, method),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else Calibration.from_json(row[0])

    async def put(self, model_id: str, calibration: Calibration) -> None:
        """Stores (or replaces) the calibration of ``model_id``."""
        async with self._write_lock:
            await self._db.execute(
                "INSERT OR REPLACE INTO model_calibrations VALUES (?, ?, ?, ?)",
                (model_id, calibration.method, calibration.to_json(), time.time()),
            )
            await self._db.commit()
