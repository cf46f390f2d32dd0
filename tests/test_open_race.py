"""Two programs opening one data folder: the bot and its worker, or the bot and a CLI command.

Both must come up whether the folder is new or not, and a database another program keeps busy
is reported as busy (with how long we waited), never as damaged: "restore it from a backup"
would send the operator to throw away a healthy file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from indexer.errors import DamagedDatabaseError, DatabaseBusyError, StorageError
from indexer.store.database import DATABASE_FILE, SCHEMA_VERSION, Database

REPO = Path(__file__).resolve().parent.parent
#: Fresh folders opened by several openers at once; each round is a new chance to collide.
ROUNDS = 25
OPENERS = 4

#: A separate program that opens the database argv[1] once argv[2] appears (argv[3]: ready).
OPEN_WHEN_TOLD = """
import asyncio, os, sys, time
from pathlib import Path
from indexer.store.database import Database

async def main() -> None:
    Path(sys.argv[3]).touch()
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.001)
    database = await Database.open(Path(sys.argv[1]))
    await database.close()

asyncio.run(main())
"""


async def open_and_close(path: Path) -> None:
    database = await Database.open(path)
    await database.close()


def schema_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT version FROM schema_version").fetchone()[0])


async def test_several_openers_of_a_new_folder_at_once_all_succeed(tmp_path: Path) -> None:
    for round_number in range(ROUNDS):
        path = tmp_path / str(round_number) / DATABASE_FILE

        await asyncio.gather(*(open_and_close(path) for _ in range(OPENERS)))

        assert schema_version(path) == SCHEMA_VERSION


def test_two_programs_opening_a_new_folder_at_once_both_succeed(tmp_path: Path) -> None:
    for round_number in range(3):
        path = tmp_path / str(round_number) / DATABASE_FILE
        go = tmp_path / f"go-{round_number}"
        ready = [tmp_path / f"ready-{round_number}-{number}" for number in range(2)]
        programs = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_WHEN_TOLD, str(path), str(go), str(signal)],
                cwd=REPO,
                stderr=subprocess.PIPE,
                text=True,
            )
            for signal in ready
        ]
        wait_for(ready)  # both have imported everything and are polling for the signal
        go.touch()

        errors = [program.communicate(timeout=60)[1] for program in programs]

        assert [program.returncode for program in programs] == [0, 0], errors
        assert schema_version(path) == SCHEMA_VERSION


def wait_for(files: list[Path], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(file.exists() for file in files):
        assert time.monotonic() < deadline, f"not all of {files} appeared"
        time.sleep(0.01)


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another program's connection in the middle of a long write transaction."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


async def test_a_database_busy_past_the_wait_is_reported_busy_not_damaged(
    tmp_path: Path,
) -> None:
    path = tmp_path / DATABASE_FILE
    await open_and_close(path)
    holder = hold_write_lock(path)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseBusyError) as raised:
            await Database.open(path, busy_wait=0.3)
        waited = time.monotonic() - started
    finally:
        holder.close()

    message = str(raised.value)
    assert isinstance(raised.value, StorageError)
    assert not isinstance(raised.value, DamagedDatabaseError)
    assert "in use by another program" in message and "waited 0.3 s" in message, message
    assert "damaged" not in message and "backup" not in message, message
    assert 0.3 <= waited < 3.0


async def test_a_new_database_held_by_its_creator_is_busy_not_damaged(tmp_path: Path) -> None:
    """The other program created the file and holds it before writing a byte of it."""
    path = tmp_path / DATABASE_FILE
    holder = hold_write_lock(path)
    try:
        with pytest.raises(DatabaseBusyError, match="in use by another program"):
            await Database.open(path, busy_wait=0.3)
    finally:
        holder.close()


async def test_an_opener_waits_for_a_lock_released_within_the_wait(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_FILE
    await open_and_close(path)
    holder = hold_write_lock(path)
    release = threading.Timer(0.5, holder.close)
    release.start()
    try:
        database = await Database.open(path, busy_wait=30)
        await database.close()
    finally:
        release.join()
    assert schema_version(path) == SCHEMA_VERSION


async def test_a_new_database_is_created_where_files_cannot_be_linked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAT and some network shares have no hard links: SQLite creates the file, as before."""

    def refuse(*_: object) -> None:
        raise PermissionError("operation not permitted")

    monkeypatch.setattr("indexer.store.database.os.link", refuse)
    path = tmp_path / DATABASE_FILE

    await open_and_close(path)

    assert schema_version(path) == SCHEMA_VERSION
    assert [file.name for file in tmp_path.iterdir() if file.suffix == ".new"] == []
