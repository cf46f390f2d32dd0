"""A data folder that cannot be created or written ends a command or the bot with one line
naming ``storage.data_dir`` and the folder, exit 2: never a traceback, never "damaged"
(issue 22, item 2). As root no permission is refused, so the folder is made unusable by a
file standing where it must be."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.cli import main as bot_main
from indexer.cli import main as indexer_main
from indexer.config import ModelConfig
from indexer.store.database import cannot_open


@pytest.fixture
def config(tmp_path: Path, model_config: ModelConfig) -> Path:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder's parent must be")
    path = tmp_path / "config.toml"
    path.write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        f'[storage]\ndata_dir = "{blocker / "data"}"\n[ocr]\nenabled = false\n'
        '[telegram]\nbase_url = "http://127.0.0.1:9/bot"\n'
        'base_file_url = "http://127.0.0.1:9/file/bot"\n'
    )
    return path


@pytest.mark.parametrize("command", [["stats"], ["check"], ["list", "--collection", "c"]])
def test_a_command_says_which_folder_and_setting_in_one_line(
    config: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert indexer_main(["--config", str(config), *command]) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot use the data folder ")
    assert "storage.data_dir" in err[0] and "not-a-folder" in err[0]


def test_the_bot_says_which_folder_and_setting_in_one_line(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:secret-token-value")

    status = bot_main(["--config", str(config)])

    err = capsys.readouterr().err
    assert status == 2, err
    assert "storage.data_dir" in err and "not-a-folder" in err
    assert "Traceback" not in err and "secret-token-value" not in err


def test_a_database_that_cannot_be_opened_is_no_damage(tmp_path: Path) -> None:
    """``backup`` called a read-only data folder's healthy database 'damaged'; SQLite's
    'unable to open' (and read-only, permission) errors are the folder's, not the file's."""
    with pytest.raises(sqlite3.OperationalError) as unopenable:
        sqlite3.connect(tmp_path / "no such folder" / "index.sqlite3").execute("SELECT 1")
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    with pytest.raises(sqlite3.DatabaseError) as malformed:
        sqlite3.connect(damaged).execute("SELECT * FROM sqlite_master").fetchall()

    assert cannot_open(unopenable.value)
    assert not cannot_open(malformed.value)
