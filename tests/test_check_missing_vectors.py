"""An indexed picture whose stored vector is lost, as an operator meets it (issue 17).

SQLite is the truth every vector index is rebuilt from, so a picture that stays ``indexed``
without a vector drops out of the rebuilt index and is never found again. ``check`` names such
pictures, ``check --repair`` queues them again, and the next ``index`` run embeds them anew.
Reposts (no vector of their own), forgotten pictures and pictures another model embedded
(``reindex`` re-embeds those) are not lost.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from indexer.cli import main
from indexer.config import ModelConfig
from indexer.store import DATABASE_FILE
from indexer.synthetic import ShapeSpec

Pictures = list[tuple[bytes, ShapeSpec]]


@pytest.fixture
def workspace(tmp_path: Path, model_config: ModelConfig, held_out_pictures: Pictures) -> Path:
    """Six pictures, one of them twice (a repost), and a config with the tiny model."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    for number, (data, spec) in enumerate(held_out_pictures[:6]):
        (folder / f"{spec.slug}_{number}.jpg").write_bytes(data)
    (folder / "zz_copy.jpg").write_bytes(held_out_pictures[0][0])
    (tmp_path / "config.toml").write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n[ocr]\nenabled = false\n'
    )
    return tmp_path


def cli(workspace: Path, *args: str) -> int:
    return main(["--config", str(workspace / "config.toml"), *args])


def sql(workspace: Path, query: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(workspace / "data" / DATABASE_FILE) as db:
        return db.execute(query, params).fetchall()


def index(workspace: Path) -> int:
    return cli(workspace, "index", str(workspace / "pictures"), "--collection", "c")


def found_by_search(
    workspace: Path, capsys: pytest.CaptureFixture[str], spec: ShapeSpec, name: str
) -> bool:
    """Whether a search for the picture's caption lists the file ``name`` at all (``-k 7``
    reaches every picture of the collection, so only being searchable counts)."""
    capsys.readouterr()
    assert cli(workspace, "search", spec.caption_en, "--collection", "c", "-k", "7") == 0
    return name in capsys.readouterr().out


def lose_vector(workspace: Path, number: int, spec: ShapeSpec) -> str:
    """Deletes the stored vector of the picture file ``number`` behind the program's back;
    returns the file's name."""
    name = f"{spec.slug}_{number}.jpg"
    [(image_id,)] = sql(workspace, "SELECT id FROM images WHERE source LIKE ?", f"%/{name}")
    sql(workspace, "DELETE FROM vectors WHERE image_id = ?", image_id)
    return name


def test_a_picture_that_lost_its_vector_is_reported_queued_again_and_found_after_index(
    workspace: Path, held_out_pictures: Pictures, capsys: pytest.CaptureFixture[str]
) -> None:
    assert index(workspace) == 0
    assert cli(workspace, "check") == 0
    assert "no findings" in capsys.readouterr().out
    spec = held_out_pictures[2][1]
    name = lose_vector(workspace, 2, spec)
    # The path: the next start rebuilds the index from SQLite, without the picture.
    assert not found_by_search(workspace, capsys, spec, name)

    assert cli(workspace, "check") == 1
    out = capsys.readouterr().out
    assert "collection c: 1 indexed picture(s) have no stored vector" in out, out
    assert "1 finding(s); --repair fixes them" in out

    assert cli(workspace, "check", "--repair") == 0
    assert "queued again" in capsys.readouterr().out
    assert sql(workspace, "SELECT status FROM images WHERE source LIKE ?", f"%/{name}") == [
        ("pending",)
    ]
    assert cli(workspace, "check") == 0  # queued, not lost: the next index run embeds it
    assert "no findings" in capsys.readouterr().out

    assert index(workspace) == 0
    capsys.readouterr()
    assert found_by_search(workspace, capsys, spec, name)
    assert cli(workspace, "check") == 0
    out = capsys.readouterr().out
    assert "no findings" in out and "6 indexed, 1 reposts, 0 queued" in out, out


def test_a_picture_whose_file_is_gone_fails_visibly_after_repair(
    workspace: Path, held_out_pictures: Pictures, capsys: pytest.CaptureFixture[str]
) -> None:
    assert index(workspace) == 0
    name = lose_vector(workspace, 3, held_out_pictures[3][1])
    assert cli(workspace, "check", "--repair") == 0
    (workspace / "pictures" / name).unlink()

    assert index(workspace) == 0  # the folder no longer holds it: nothing of this run failed
    assert sql(workspace, "SELECT status FROM images WHERE source LIKE ?", f"%/{name}") == [
        ("failed",)
    ]
    capsys.readouterr()
    assert cli(workspace, "check") == 0
    assert "5 indexed, 1 reposts, 0 queued, 1 failed" in capsys.readouterr().out


def test_reposts_forgotten_pictures_and_another_models_vectors_are_not_lost(
    workspace: Path, held_out_pictures: Pictures, capsys: pytest.CaptureFixture[str]
) -> None:
    assert index(workspace) == 0
    assert sql(workspace, "SELECT count(*) FROM images WHERE status = 'repost'") == [(1,)]
    spec = held_out_pictures[1][1]
    path = workspace / "pictures" / f"{spec.slug}_1.jpg"
    assert cli(workspace, "forget", "--collection", "c", "--path", str(path)) == 0
    [(image_id,)] = sql(workspace, "SELECT id FROM images WHERE source LIKE ?", "%_4.jpg")
    sql(workspace, "UPDATE vectors SET model_id = 'another/model' WHERE image_id = ?", image_id)
    assert cli(workspace, "check", "--repair") == 0  # the FAISS file still held it
    capsys.readouterr()

    assert cli(workspace, "check") == 0
    out = capsys.readouterr().out
    assert "no findings" in out and "no stored vector" not in out, out
    assert "collection c: 1 picture(s) embedded only by another model: reindex" in out, out
    assert sql(workspace, "SELECT status FROM images WHERE id = ?", image_id) == [("indexed",)]


def test_check_help_names_lost_vectors_and_leftovers_and_what_repair_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "indexed pictures without a stored vector" in text, text
    assert "leftovers of saves cut short" in text, text
    assert "--repair" in text and "queues pictures without a vector again" in text, text
    assert "removes leftovers" in text, text
