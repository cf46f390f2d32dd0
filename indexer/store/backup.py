"""``python -m indexer backup DEST``: a consistent copy of the database, while the bot runs.

SQLite's online backup API copies the database page by page as one consistent snapshot, even
while another process writes to it (a plain file copy of a database in WAL mode can miss the
latest commits or tear a page). The FAISS files are not copied: they are rebuilt from the
database, so restoring is copying the file back into the data folder and starting.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from indexer.atomic import atomic_file
from indexer.errors import DataFolderError, IndexerError, StorageError
from indexer.invocation import indexer_command
from indexer.store import DATABASE_FILE
from indexer.store.database import cannot_open


async def backup_database(data_dir: Path, destination: str) -> Path:
    """Writes a checked copy of the data folder's database to ``destination`` (a file name, or
    a folder to put ``index.sqlite3`` in: an existing one, or a name ending in ``/``, which is
    created); returns the file written."""
    source = data_dir / DATABASE_FILE
    if not source.is_file() or source.stat().st_size == 0:
        raise StorageError(f"there is no database to back up at {source}")
    target = _backup_file(destination)
    if target.resolve() == source.resolve():
        raise IndexerError(f"the backup would overwrite the database itself: {target}")
    await asyncio.to_thread(_copy, source, target)
    return target


def _backup_file(destination: str) -> Path:
    """The file a backup to ``destination`` writes. ``Path`` drops a trailing ``/``, so the
    name is read before it becomes one: ``backups/`` means a folder even before it exists."""
    if destination.endswith((os.sep, os.altsep or os.sep)):
        folder = Path(destination)
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise IndexerError(f"cannot create the folder {folder}: {exc.strerror}") from None
        return folder / DATABASE_FILE
    path = Path(destination)
    return path / DATABASE_FILE if path.is_dir() else path


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
            if cannot_open(exc):
                raise DataFolderError(
                    f"cannot open {source} to back it up ({exc}): is its folder readable and "
                    "writable by this program's user (storage.data_dir)?"
                ) from None
            raise StorageError(
                f"{source} cannot be backed up, it is damaged ({exc}); "
                f"{indexer_command()} check tells more"
            ) from None
        finally:
            writer.close()
            reader.close()
        if verdict != ("ok",):
            raise StorageError(f"the copy of {source} failed its integrity check: {verdict[0]}")
