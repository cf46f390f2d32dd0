"""The indexer's command line, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.cli import main
from indexer.config import ModelConfig
from indexer.synthetic import ShapeSpec

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def workspace(
    tmp_path: Path, model_config: ModelConfig, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> Path:
    pictures = tmp_path / "pictures" / "nested"
    pictures.mkdir(parents=True)
    for number, (data, spec) in enumerate(held_out_pictures[:90]):
        (pictures / f"{spec.slug}_{number:03d}.jpg").write_bytes(data)
    (pictures / "notes.txt").write_text("not a picture, and not named like one")
    (pictures / "broken.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "config.toml").write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        '[storage]\ndata_dir = "data"\n'
    )
    return tmp_path


def run(workspace: Path, *args: str) -> int:
    return main(["--config", str(workspace / "config.toml"), *args])


def test_index_reports_counts_and_names_the_failures(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(workspace, "index", str(workspace / "pictures"), "--collection", "c") == 1
    out = capsys.readouterr().out
    assert "91 files: 90 indexed, 0 duplicates, 0 already known, 1 failed" in out
    assert "broken.jpg: the file is not a picture" in out
    assert run(workspace, "index", str(workspace / "pictures"), "--collection", "c") == 0
    assert "0 indexed, 0 duplicates, 91 already known, 0 failed" in capsys.readouterr().out


def test_search_by_text_and_by_image(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(workspace, "index", str(workspace / "pictures"), "--collection", "c")
    capsys.readouterr()
    assert run(workspace, "search", "a purple star", "--collection", "c", "-k", "3") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and sum("purple_star" in line for line in lines) >= 2
    example = next((workspace / "pictures" / "nested").glob("green_cross_*.jpg"))
    assert run(workspace, "search", "--image", str(example), "--collection", "c", "-k", "1") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert "green_cross" in line and example.name not in line


def test_stats_forget_and_reindex(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(workspace, "index", str(workspace / "pictures"), "--collection", "c")
    victim = next((workspace / "pictures" / "nested").glob("red_circle_*.jpg"))
    capsys.readouterr()
    assert run(workspace, "forget", "--collection", "c", "--path", str(victim)) == 0
    assert "forgot 1 picture(s)" in capsys.readouterr().out
    assert run(workspace, "reindex", "--collection", "c") == 0
    assert "reindexed 89 of 89 pictures" in capsys.readouterr().out
    assert run(workspace, "stats", "--collection", "c") == 0
    out = capsys.readouterr().out
    assert "pictures 89 (+0 reposts), pending 0, failed 1, forgotten 1" in out
    assert "index Flat, 89 vectors" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "a red circle", "--collection", "nope"], "unknown collection 'nope'"),
        (["search", "--collection", "c"], "either a TEXT or --image"),
        (["search", "", "--collection", "c"], "the query is empty"),
        (["index", "/no/such/folder", "--collection", "c"], "not a folder"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    workspace: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    run(workspace, "index", str(workspace / "pictures"), "--collection", "c")
    capsys.readouterr()
    assert run(workspace, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_demo_runs_offline_and_leaves_a_working_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    found = [
        int(line.split(":")[1].split()[0]) for line in out.splitlines() if "of the top" in line
    ]
    assert len(found) == 4 and sum(found) >= 16, out
    config = tmp_path / "demo" / "config.toml"
    assert f"--config {config}" in out
    assert main(["--config", str(config), "search", "a purple star", "--collection", "demo"]) == 0
    assert "purple_star" in capsys.readouterr().out


def test_pretrained_weights_without_network_name_the_offline_setting(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[model]\narch = "RN50"\npretrained = "openai"\n')
    result = subprocess.run(
        [sys.executable, "-m", "indexer", "--config", str(config), "stats"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(REPO),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        },
    )
    assert result.returncode == 2
    assert "could not load model 'RN50'" in result.stderr
    assert "Hugging Face cache (HF_HUB_OFFLINE)" in result.stderr
    assert "model export` and model.path" in result.stderr
