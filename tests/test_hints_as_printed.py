"""Every hint a command prints works as printed: it names the command the user typed (or the
installed ``clip-search``, never ``python -m indexer`` to someone who typed ``clip-search``),
and blames what the user gave, not a setting they never set (issue 22, item 10)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.config import ModelConfig
from indexer.invocation import indexer_command
from indexer.model.loading import load_open_clip

CLIP_SEARCH = Path(sys.executable).parent / "clip-search"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLIP_SEARCH), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_model_check_of_a_missing_folder_names_the_folder_not_model_path(tmp_path: Path) -> None:
    done = run("model", "check", str(tmp_path / "nope"), cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr.strip() == f"error: model check: not a folder: {tmp_path / 'nope'}"


def test_a_hint_names_the_command_as_typed(tmp_path: Path) -> None:
    (tmp_path / "not-a-model").mkdir()

    done = run("model", "check", str(tmp_path / "not-a-model"), cwd=tmp_path)

    assert done.returncode == 2
    assert f"`{CLIP_SEARCH} model export --out DIR`" in done.stderr
    assert "python -m indexer" not in done.stderr


def test_a_hint_keeps_the_config_the_user_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without it, the pasted hint would act on the default data folder."""
    monkeypatch.setattr(sys, "argv", ["clip-search", "--config", "my dir/c.toml", "index", "x"])
    assert indexer_command() == "clip-search --config 'my dir/c.toml'"
    monkeypatch.setattr(sys, "argv", ["clip-search", "index", "x", "--config=b.toml"])
    assert indexer_command() == "clip-search --config b.toml"


@pytest.mark.parametrize(
    ("started", "expected"),
    [
        ("/srv/app/.venv/bin/clip-search-bot", "clip-search"),
        ("clip-search", "clip-search"),
        ("/srv/app/.venv/bin/clip-search", "/srv/app/.venv/bin/clip-search"),
    ],
)
def test_hints_from_other_programs_name_the_installed_command(
    started: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [started])
    assert indexer_command() == expected


def test_a_model_without_weights_is_warned_about_once(
    model_config: ModelConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """open_clip's own 'No pretrained weights loaded' repeated the loader's warning."""
    with caplog.at_level(logging.WARNING):
        load_open_clip(ModelConfig(arch=model_config.arch, pretrained=None))

    about_weights = [r for r in caplog.records if "pretrained weights" in r.getMessage()]
    assert [r.getMessage() for r in about_weights] == [
        f"model {model_config.arch} has no pretrained weights: results will be random"
    ]
