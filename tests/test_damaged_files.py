"""Damaged files, checks and backups, as an unlucky operator meets them.

A FAISS file damaged by one flipped value is detected by the checksum saved with it and
rebuilt from SQLite; a damaged or emptied database stops the program with one line and is
never replaced; ``check`` finds what disagrees and ``--repair`` fixes it; a backup taken while
the service runs restores by copying it back.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from indexer.cli import main
from indexer.config import IndexerConfig, ModelConfig
from indexer.model.embedder import Embedder
from indexer.records import ImageFacts
from indexer.service import IndexService
from indexer.store import DATABASE_FILE
from indexer.synthetic import ShapeSpec
from indexer.vectors.faiss_files import FaissFiles
from tests.conftest import make_config
from tests.helpers import index_pictures

Pictures = list[tuple[bytes, ShapeSpec]]


@pytest.fixture
def workspace(tmp_path: Path, model_config: ModelConfig) -> Path:
    (tmp_path / "config.toml").write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n[ocr]\nenabled = false\n'
    )
    return tmp_path


@pytest.fixture
def config(workspace: Path, model_config: ModelConfig) -> IndexerConfig:
    return make_config(workspace / "data", model_config)


def cli(workspace: Path, *args: str) -> int:
    return main(["--config", str(workspace / "config.toml"), *args])


async def acli(workspace: Path, *args: str) -> int:
    """The command line from an async test (it runs its own event loop)."""
    return await asyncio.to_thread(cli, workspace, *args)


async def indexed(config: IndexerConfig, embedder: Embedder, pictures: Pictures) -> list[int]:
    async with await IndexService.open(config, embedder) as service:
        return list(await index_pictures(service, "c", pictures))


def faiss_file(config: IndexerConfig, embedder: Embedder) -> Path:
    return FaissFiles(config.storage.data_dir / "faiss").path(1, embedder.identity)


def replace_last(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    at = data.rindex(old)
    path.write_bytes(data[:at] + new + data[at + len(old) :])


@pytest.mark.parametrize("damage", ["a float", "an id"])
async def test_a_faiss_file_with_one_flipped_value_is_rebuilt_from_sqlite(
    config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: Pictures,
    damage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pictures = held_out_pictures[:12]
    ids = await indexed(config, embedder, pictures)
    path = faiss_file(config, embedder)
    if damage == "a float":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x7F
        path.write_bytes(bytes(data))
    else:
        replace_last(path, np.int64(ids[0]).tobytes(), np.int64(ids[1]).tobytes())

    async with await IndexService.open(config, embedder) as service:
        assert "checksum does not match" in caplog.text
        for number, (_, spec) in enumerate(pictures):
            hits = await service.search_text(["c"], spec.caption_en, k=12)
            assert len({hit.image.id for hit in hits}) == 12
            assert all(-1.0 <= hit.score <= 1.01 for hit in hits), hits
            assert ids[number] in {hit.image.id for hit in hits}


@pytest.mark.parametrize("damage", ["emptied", "overwritten"])
def test_a_damaged_or_emptied_database_stops_with_one_line_and_is_kept(
    workspace: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workspace / "data" / DATABASE_FILE
    path.parent.mkdir()
    path.write_bytes(b"" if damage == "emptied" else b"\x00garbage, not SQLite\x00" * 200)
    before = path.read_bytes()

    assert cli(workspace, "stats") == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path} is ")
    assert "backup" in err[0]
    assert path.read_bytes() == before
    # For `check` a damaged database is a finding, as README says of every finding: exit 1.
    assert cli(workspace, "check") == 1
    assert capsys.readouterr().out.startswith(f"SQLite: {path} is ")
    assert path.read_bytes() == before


def damage_faiss_file_and_leave_an_orphan(config: IndexerConfig, path: Path) -> list[str]:
    path.write_bytes(path.read_bytes()[:-9] + b"different")
    with sqlite3.connect(config.storage.data_dir / DATABASE_FILE) as db:
        db.execute("INSERT INTO pending_data SELECT id, x'00' FROM images LIMIT 1")
    return [f"{path} is damaged", "orphans: 1 queued bytes of pictures that are not queued"]


def forget_behind_the_index(config: IndexerConfig, path: Path) -> list[str]:
    with sqlite3.connect(config.storage.data_dir / DATABASE_FILE) as db:
        db.execute("UPDATE images SET deleted = 1 WHERE id = 1")
        db.execute("DELETE FROM vectors WHERE image_id = 1")
    return [f"{path} holds 6 ids where SQLite has 5 searchable ones"]


def lose_a_tag_from_the_word_index(config: IndexerConfig, path: Path) -> list[str]:
    with sqlite3.connect(config.storage.data_dir / DATABASE_FILE) as db:
        db.execute(
            "INSERT INTO texts (image_id, kind, text, folded, added_at) "
            "VALUES (1, 'tag', 'Brown Dog', 'brown dog', 0)"
        )
        db.execute(
            "INSERT INTO texts_trigrams (texts_trigrams, rowid, folded) "
            "SELECT 'delete', id, folded FROM texts"
        )
    return ["SQLite: the word index of captions and tags disagrees with them"]


@pytest.mark.parametrize(
    "damage",
    [
        damage_faiss_file_and_leave_an_orphan,
        forget_behind_the_index,
        lose_a_tag_from_the_word_index,
    ],
)
async def test_check_finds_what_disagrees_with_sqlite_and_repair_fixes_it(
    workspace: Path,
    config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: Pictures,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[IndexerConfig, Path], list[str]],
) -> None:
    await indexed(config, embedder, held_out_pictures[:6])
    assert await acli(workspace, "check") == 0
    assert "no findings" in capsys.readouterr().out

    findings = damage(config, faiss_file(config, embedder))
    caplog.clear()
    assert await acli(workspace, "check") == 1
    out = capsys.readouterr().out
    assert all(finding in out for finding in findings), out
    # Each finding is said once, as a finding: no log warning repeats it.
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []

    assert await acli(workspace, "check", "--repair") == 0
    assert await acli(workspace, "check") == 0
    assert "no findings" in capsys.readouterr().out


async def test_a_backup_taken_while_the_service_runs_restores_by_copying_it_back(
    workspace: Path,
    config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: Pictures,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pictures = held_out_pictures[:8]
    async with await IndexService.open(config, embedder) as service:
        ids = await index_pictures(service, "c", pictures)
        (workspace / "backups").mkdir()
        assert await acli(workspace, "backup", str(workspace / "backups")) == 0
        await service.add_image("c", ImageFacts(source="upload:after"), data=pictures[0][0])
    assert f"backed up to {workspace / 'backups' / DATABASE_FILE}" in capsys.readouterr().out

    shutil.rmtree(config.storage.data_dir)
    config.storage.data_dir.mkdir()
    shutil.copy(workspace / "backups" / DATABASE_FILE, config.storage.data_dir / DATABASE_FILE)

    async with await IndexService.open(config, embedder) as restored:
        stats = await restored.stats("c")
        assert (stats.images, stats.index_vectors) == (8, 8)
        for image_id, spec in ids.items():
            hits = await restored.search_text(["c"], spec.caption_en, k=8)
            assert image_id in {hit.image.id for hit in hits}
    assert faiss_file(config, embedder).is_file()
    assert await acli(workspace, "check") == 0


def test_the_command_line_does_not_index_files_into_a_telegram_chats_collection(
    workspace: Path, held_out_pictures: Pictures, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = workspace / "pictures"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(held_out_pictures[0][0])

    assert cli(workspace, "index", str(folder), "--collection", "-1001234567890") == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Telegram chat" in err[0]
    assert cli(workspace, "index", str(folder), "--collection", "holiday-2024") == 0


async def test_a_backup_into_a_new_folder_named_with_a_slash_goes_inside_it(
    workspace: Path,
    config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: Pictures,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await indexed(config, embedder, held_out_pictures[:2])

    assert await acli(workspace, "backup", f"{workspace / 'backups'}/") == 0

    copy = workspace / "backups" / DATABASE_FILE
    assert copy.is_file()
    assert f"backed up to {copy}" in capsys.readouterr().out
    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT count(*) FROM images").fetchone() == (2,)


async def test_temporary_files_of_saves_cut_short_are_found_by_check_and_removed(
    workspace: Path,
    config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: Pictures,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A kill between writing a FAISS file's temporary copy and renaming it leaves the copy
    for good: ``check`` names it, ``--repair`` and the next start remove it; a fresh one (a
    save in progress in another process) is left alone."""
    await indexed(config, embedder, held_out_pictures[:4])
    folder = config.storage.data_dir / "faiss"
    old = folder / f".{faiss_file(config, embedder).name}.k1ll3d.tmp"
    fresh = folder / f".{faiss_file(config, embedder).name}.wr1t1ng.tmp"
    for path in (old, fresh):
        path.write_bytes(b"half a FAISS file")
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))

    assert await acli(workspace, "check") == 1
    assert f"leftover of a save cut short: {old}" in capsys.readouterr().out
    assert await acli(workspace, "check", "--repair") == 0
    assert not old.exists() and fresh.exists()

    old.write_bytes(b"another")
    os.utime(old, (hour_ago, hour_ago))
    async with await IndexService.open(config, embedder):
        pass
    assert not old.exists() and fresh.exists()
