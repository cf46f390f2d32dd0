"""``python -m indexer backup DEST``: a consistent copy of the database, while the bot runs.

SQLite's online backup API copies the database page by page as one consistent snapshot, even
while another process writes to it (a plain file copy of a database in WAL mode can miss the
latest commits or tear a page). The FAISS files are not copied: they are rebuilt from the
database, so restoring is copying the file back into the data folder and starting.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from indexer.atomic import atomic_file
from indexer.errors import IndexerError, StorageError
from indexer.store import DATABASE_FILE


async def backup_database(data_dir: Path, destination: Path) -> Path:
    """Writes a checked copy of the data folder's database to ``destination`` (a file, or a
    folder to put ``index.sqlite3`` in); returns the file written."""
    source = data_dir / DATABASE_FILE
    if not source.is_file() or source.stat().st_size == 0:
        raise StorageError(f"there is no database to back up at {source}")
    target = destination / DATABASE_FILE if destination.is_dir() else destination
    if target.resolve() == source.resolve():
        raise IndexerError(f"the backup would overwrite the database itself: {target}")
    await asyncio.to_thread(_copy, source, target)
    return target


def _copy(source: Path, target: Path) -> None:
    """Copies through the backup API into a temporary file that replaces ``target`` only
    once the copy passed SQLite's integrity check."""
    with atomic_file(target) as (_, temporary):
        reader = sqlite3.connect(source)
        writer = sqlite3.connect(temporary)
        try:
            reader.backup(writer)
            verdict = writer.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StorageError(
                f"{source} cannot be backed up, it is damaged ({exc}); "
                "python -m indexer check tells more"
            ) from None
        finally:
            writer.close()
            reader.close()
        if verdict != ("ok",):
            raise StorageError(f"the copy of {source} failed its integrity check: {verdict[0]}")
