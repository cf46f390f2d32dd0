"""Each model's calibrated similarity thresholds (indexer/model/calibration.py), by model identity.

Calibrating the default model embeds a few hundred texts (seconds on a CPU), so it is done once
per model and data folder and kept here; a calibration made by another method (other phrases,
another rule: :func:`indexer.model.calibration.method_id`) is measured again.
"""

from __future__ import annotations

import time

from indexer.records import Calibration
from indexer.store.database import Database


class Calibrations:
    """The ``model_calibrations`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, model_id: str, method: str) -> Calibration | None:
        """The stored calibration of ``model_id`` made by ``method``, if there is one."""
        row = await self._db.fetchone(
            "SELECT calibration FROM model_calibrations WHERE model_id = ? AND method = ?",
            (model_id, method),
        )
        return None if row is None else Calibration.from_json(row[0])

    async def put(self, model_id: str, calibration: Calibration) -> None:
        """Stores (or replaces) the calibration of ``model_id``."""
        await self._db.write(
            [
                (
                    "INSERT OR REPLACE INTO model_calibrations VALUES (?, ?, ?, ?)",
                    (model_id, calibration.method, calibration.to_json(), time.time()),
                )
            ]
        )
