"""Fine-tuning teaches the model a group's own words without forgetting, and its card is true.

The group (see ``tests/local_names.py``) calls purple stars "Zorblat Plaza" / "佐布拉特广场" and
green triangles "Mister Fluffnik" / "弗拉夫尼克先生"; the tiny model never saw these words.
Two fine-tuning runs are shared by the tests of this module: a careful one (image tower locked,
moderate learning rate) and an overeager one (learning rate ten times higher, both towers, early
stopping), which forgets on purpose.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from indexer.cli import main
from indexer.config import IndexerConfig, ModelConfig
from indexer.errors import FinetuneError
from indexer.model.embedder import Embedder
from indexer.model.folder import file_sha256
from indexer.model.identity import model_identity
from indexer.synthetic import ShapeSpec
from indexer.training.card import held_out_path
from indexer.training.finetune import FinetuneOptions, finetune, shapes_general_source
from indexer.training.pairs import read_pairs_file
from indexer.training.tiny_model import TINY_MODEL_NAME, card_path, create_tiny_model
from tests.local_names import group_pairs, name_precision, write_pairs_file

#: The careful run's settings: a few seconds on two CPU cores.
CAREFUL = ["--epochs", "20", "--batch-size", "16", "--lr", "3e-4", "--lock-image"]


@dataclass(frozen=True)
class Run:
    """A finished fine-tuning run: its checkpoint, its card and configs for both models."""

    checkpoint: Path
    card: dict
    base_config: Path
    tuned_config: Path
    messages: list[str]


def write_config(path: Path, checkpoint: Path) -> Path:
    path.write_text(f'[model]\narch = "{TINY_MODEL_NAME}"\ncheckpoint = "{checkpoint}"\n')
    return path


@pytest.fixture(scope="module")
def group_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """88 pairs: 16 pictures per local name and 56 everyday pictures of other kinds."""
    folder = tmp_path_factory.mktemp("group")
    return write_pairs_file(folder / "pairs.csv", group_pairs(per_name=16, everyday=56, seed=11))


@pytest.fixture(scope="module")
def careful(
    tmp_path_factory: pytest.TempPathFactory, tiny_checkpoint: Path, group_file: Path
) -> Run:
    """The careful run, through the command line as a person would type it."""
    folder = tmp_path_factory.mktemp("careful")
    base = write_config(folder / "base.toml", tiny_checkpoint)
    out = folder / "models" / "group.pt"
    args = ["--config", str(base), "finetune", "--pairs", str(group_file), "--out", str(out)]
    assert main([*args, *CAREFUL, "--held-out", "0.2"]) == 0
    card = json.loads(card_path(out).read_text())
    return Run(out, card, base, write_config(folder / "tuned.toml", out), [])


@pytest.fixture(scope="module")
def overeager(
    tmp_path_factory: pytest.TempPathFactory, model_config: ModelConfig, group_file: Path
) -> Run:
    """A run with far too high a learning rate on both towers, stopped early."""
    folder = tmp_path_factory.mktemp("overeager")
    out = folder / "group.pt"
    options = FinetuneOptions(out=out, epochs=30, batch_size=16, lr=3e-3, held_out=0.2, patience=3)
    messages: list[str] = []
    config = IndexerConfig(model=model_config)
    result = finetune(
        config, read_pairs_file(group_file), options, shapes_general_source(), messages.append
    )
    base = write_config(folder / "base.toml", model_config.checkpoint)
    return Run(out, result.card, base, write_config(folder / "tuned.toml", out), messages)


def test_the_base_model_does_not_know_the_local_names(
    embedder: Embedder, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    assert statistics.mean(name_precision(embedder, held_out_pictures).values()) <= 0.2


def test_after_finetuning_the_local_names_find_new_pictures_of_their_kind(
    careful: Run, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    tuned = Embedder.load(ModelConfig(arch=TINY_MODEL_NAME, checkpoint=careful.checkpoint))
    precision = name_precision(tuned, held_out_pictures)
    assert statistics.mean(precision.values()) >= 0.8, precision
    assert min(precision.values()) >= 0.6, precision


def test_careful_finetuning_keeps_general_recall_within_five_points(careful: Run) -> None:
    general = careful.card["general"]
    for direction in ("text_to_image", "image_to_text"):
        before = general["before"][direction]["R@5"]
        assert general["after"][direction]["R@5"] >= before - 0.05
    assert careful.card["general_recall_warning"] is False


def test_held_out_recall_rises_with_the_local_names(careful: Run) -> None:
    held_out = careful.card["held_out"]
    for direction in ("text_to_image", "image_to_text"):
        assert held_out["after"][direction]["R@5"] > held_out["before"][direction]["R@5"]


@pytest.mark.parametrize("run_name", ["careful", "overeager"])
def test_eval_on_the_held_out_pairs_repeats_the_cards_numbers(
    run_name: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    run: Run = request.getfixturevalue(run_name)
    pairs = held_out_path(run.checkpoint)
    assert run.card["held_out"]["file"] == pairs.name
    for config, moment in ((run.tuned_config, "after"), (run.base_config, "before")):
        capsys.readouterr()
        assert main(["--config", str(config), "eval", "--pairs", str(pairs), "--json"]) == 0
        measured = json.loads(capsys.readouterr().out)
        assert {k: measured[k] for k in ("pairs", "text_to_image", "image_to_text")} == (
            run.card["held_out"][moment]
        )


def test_card_names_base_model_data_settings_and_the_new_identity(
    careful: Run, group_file: Path, model_config: ModelConfig
) -> None:
    card = careful.card
    assert card["base_model"]["identity"] == model_identity(model_config)
    tuned = ModelConfig(arch=TINY_MODEL_NAME, checkpoint=careful.checkpoint)
    assert card["model"]["identity"] == model_identity(tuned) != model_identity(model_config)
    assert card["data"]["sha256"] == file_sha256(group_file)
    assert (
        card["data"]["pairs"] == 88 == card["data"]["train_pairs"] + card["data"]["held_out_pairs"]
    )
    assert card["data"]["held_out_pairs"] == round(0.2 * 88)
    settings = card["hyperparameters"]
    assert (settings["epochs"], settings["batch_size"], settings["lr"]) == (20, 16, 3e-4)
    assert settings["lock_image"] is True and settings["epochs_run"] == 20
    assert [entry["epoch"] for entry in card["epochs"]] == list(range(1, 21))
    assert card["train_seconds"] > 0 and card["total_seconds"] >= card["train_seconds"]


def test_checkpoint_is_a_float16_state_dict_that_open_clip_loads(
    careful: Run, tiny_checkpoint: Path
) -> None:
    state = torch.load(careful.checkpoint, weights_only=True)
    base = torch.load(tiny_checkpoint, weights_only=True)
    assert state.keys() == base.keys()
    assert all(t.dtype == torch.float16 for t in state.values() if t.is_floating_point())
    create_tiny_model(careful.checkpoint)  # strict loading: every key fits


def test_a_locked_image_tower_keeps_its_weights(careful: Run, tiny_checkpoint: Path) -> None:
    state = torch.load(careful.checkpoint, weights_only=True)
    base = torch.load(tiny_checkpoint, weights_only=True)
    assert all(torch.equal(state[k], base[k]) for k in base if k.startswith("visual."))
    assert not all(torch.equal(state[k], base[k]) for k in base if k.startswith("transformer."))


def test_patience_stops_training_and_keeps_the_best_epoch(overeager: Run) -> None:
    settings = overeager.card["hyperparameters"]
    scores = [entry["held_out_mean_recall"] for entry in overeager.card["epochs"]]
    assert settings["epochs_run"] < settings["epochs"]
    assert settings["kept_epoch"] == scores.index(max(scores)) + 1
    assert settings["epochs_run"] == settings["kept_epoch"] + settings["patience"]


def test_forgetting_is_flagged_in_the_card_and_the_output(overeager: Run) -> None:
    general = overeager.card["general"]
    drop = general["before"]["text_to_image"]["R@5"] - general["after"]["text_to_image"]["R@5"]
    assert drop > 0.05
    assert overeager.card["general_recall_warning"] is True
    assert any(m.startswith("WARNING: general recall@5 fell") for m in overeager.messages)


def bad_pairs_file(folder: Path, suffix: str) -> Path:
    """A file whose lines 3-6 are bad: a missing picture, an empty caption, a broken JPEG,
    and (JSONL) a line without a caption key or (CSV) a line with too few fields."""
    good = write_pairs_file(folder / f"good{suffix}", group_pairs(1, 2, seed=3))
    (folder / "pictures" / "broken.jpg").write_bytes(b"not a jpeg at all")
    lines = good.read_text(encoding="utf-8").splitlines()
    if suffix == ".csv":
        bad = ["pictures/gone.jpg,a red circle", "pictures/0000.jpg,", "pictures/broken.jpg,x"]
        bad.append("pictures/0001.jpg")
    else:
        bad = [
            json.dumps({"image": "pictures/gone.jpg", "caption": "a red circle"}),
            json.dumps({"image": "pictures/0000.jpg", "caption": " "}),
            json.dumps({"image": "pictures/broken.jpg", "caption": "x"}),
            json.dumps({"image": "pictures/0001.jpg", "text": "a red circle"}),
        ]
    # CSV: header, 1 good, 4 bad, rest good; JSONL: 2 good, 4 bad, rest good (lines 3 to 6).
    head = 2
    path = folder / f"bad{suffix}"
    path.write_text("\n".join([*lines[:head], *bad, *lines[head:]]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_bad_lines_are_listed_in_one_error_and_nothing_is_written(
    tmp_path: Path, tiny_checkpoint: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = bad_pairs_file(tmp_path, suffix)
    config = write_config(tmp_path / "config.toml", tiny_checkpoint)
    out = tmp_path / "out" / "tuned.pt"
    args = ["--config", str(config), "finetune", "--pairs", str(pairs), "--out", str(out)]
    assert main([*args, "--batch-size", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "4 bad pair(s)" in err
    assert "line 3 (" in err and "gone.jpg): picture not found" in err
    assert "line 4 (" in err and "empty caption" in err
    assert "line 5 (" in err and "broken.jpg): the file is not a picture" in err
    expected = "fewer fields than columns" if suffix == ".csv" else "no 'caption' key"
    assert f"line 6: {expected}" in err
    assert not (tmp_path / "out").exists()


def test_a_csv_without_image_and_caption_columns_names_the_columns_it_has(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("file,text\na.jpg,a red circle\n")
    config = write_config(tmp_path / "config.toml", tiny_checkpoint)
    out = tmp_path / "tuned.pt"
    args = ["--config", str(config), "finetune", "--pairs", str(pairs), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "must name the columns 'image' and 'caption' (found 'file', 'text')" in err
    assert not out.exists()


def test_fewer_pairs_than_a_batch_is_an_error_naming_the_option(
    tmp_path: Path, model_config: ModelConfig
) -> None:
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", group_pairs(2, 4, seed=1))
    options = FinetuneOptions(out=tmp_path / "tuned.pt", batch_size=32)
    with pytest.raises(FinetuneError, match="lower --batch-size or add pairs"):
        finetune(IndexerConfig(model=model_config), read_pairs_file(pairs), options, None)
    assert not (tmp_path / "tuned.pt").exists()


def test_the_checkpoint_in_use_is_never_overwritten(
    tmp_path: Path, tiny_checkpoint: Path, group_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "config.toml", tiny_checkpoint)
    args = ["finetune", "--pairs", str(group_file), "--out", str(tiny_checkpoint)]
    assert main(["--config", str(config), *args]) == 2
    assert "is the checkpoint being fine-tuned" in capsys.readouterr().err
