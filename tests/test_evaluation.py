"""Recall@k and mean rank, on pairs that may share pictures and captions, and `eval` itself."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.cli import main
from indexer.config import ModelConfig
from indexer.synthetic import make_dataset
from indexer.training.evaluation import evaluate_retrieval
from indexer.training.pairs import LoadedPair, Pair
from tests.conftest import HELD_OUT_SEED
from tests.local_names import write_pairs_file


class ScoreTable:
    """An encoder whose text·picture similarities are a given table (captions × pictures).

    Picture i encodes to the i-th unit vector and a caption to its row of the table, so the
    dot product of the two is exactly the table's entry.
    """

    def __init__(self, pictures: Sequence[str], rows: dict[str, list[float]]) -> None:
        self.images = {name: Image.new("RGB", (1, 1)) for name in pictures}
        self.columns = {id(image): i for i, image in enumerate(self.images.values())}
        self.rows = rows

    def pairs(self, *pairs: tuple[str, str]) -> list[LoadedPair]:
        """(picture name, caption) pairs as evaluation takes them."""
        return [
            LoadedPair(self.images[name], caption, name, Pair(b"", caption, name))
            for name, caption in pairs
        ]

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return np.eye(len(self.columns))[[self.columns[id(image)] for image in images]]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.rows[text] for text in texts])


def test_a_model_that_matches_every_pair_first_has_recall_one_and_mean_rank_one() -> None:
    table = ScoreTable("abc", {"A": [1, 0, 0], "B": [0, 1, 0], "C": [0, 0, 1]})
    report = evaluate_retrieval(table, table.pairs(("a", "A"), ("b", "B"), ("c", "C")))
    for metrics in (report.text_to_image, report.image_to_text):
        assert metrics.recall == {1: 1.0, 5: 1.0, 10: 1.0}
        assert metrics.mean_rank == 1.0
    assert report.mean_recall == 1.0


def test_a_querys_rank_is_the_place_of_its_first_right_answer_with_ties_against_it() -> None:
    table = ScoreTable(
        "abcd",
        {
            "A": [0.5, 0.9, 0.1, 0.0],  # a comes 2nd
            "B": [0.0, 0.8, 0.3, 0.1],  # b 1st
            "C": [0.9, 0.8, 0.7, 0.0],  # c 3rd
            "D": [0.0, 0.0, 0.0, 1.0],  # d 1st
        },
    )
    report = evaluate_retrieval(table, table.pairs(("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")))
    assert report.text_to_image.recall[1] == 0.5
    assert report.text_to_image.mean_rank == (2 + 1 + 3 + 1) / 4
    # Columns read as picture → caption: a ranks A 2nd (C is ahead); b ranks B 3rd, since
    # B ties with C at 0.8 behind A's 0.9; c and d rank theirs 1st.
    assert report.image_to_text.recall[1] == 0.5
    assert report.image_to_text.mean_rank == (2 + 3 + 1 + 1) / 4
    assert report.image_to_text.recall[5] == 1.0


def test_a_caption_under_several_pictures_is_one_query_that_any_of_them_answers() -> None:
    table = ScoreTable("abc", {"a red circle": [0.2, 0.9, 0.5], "a blue square": [0.1, 0.2, 0.8]})
    pairs = table.pairs(("a", "a red circle"), ("b", "a red circle"), ("c", "a blue square"))
    report = evaluate_retrieval(table, pairs)
    assert (report.pairs, report.text_to_image.queries, report.image_to_text.queries) == (3, 2, 3)
    assert report.text_to_image.recall[1] == 1.0  # b answers "a red circle" first
    # Picture a prefers "a red circle" (0.2 > 0.1): right; so do b and c with theirs.
    assert report.image_to_text.recall[1] == 1.0


@pytest.fixture
def config(tmp_path: Path, model_config: ModelConfig) -> Path:
    """A config file of the tiny model."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
    )
    return path


@pytest.fixture
def shapes_file(tmp_path: Path) -> Path:
    """30 held-out shapes pictures, one of each kind, with their canonical English captions."""
    pictures = make_dataset(30, HELD_OUT_SEED)
    return write_pairs_file(tmp_path / "shapes.csv", [(i, s.caption_en) for i, s in pictures])


def test_eval_prints_a_table_of_both_directions_for_the_configured_model(
    config: Path, model_config: ModelConfig, shapes_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "eval", "--pairs", str(shapes_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"model {model_config.arch}@sha256:") and "(30 pairs)" in lines[0]
    assert lines[1].split() == ["R@1", "R@5", "R@10", "mean", "rank", "asked/among"]
    assert [line.split()[0] for line in lines[2:4]] == ["text→image", "image→text"]
    assert lines[4].startswith("asked/among: distinct queries")

    assert main(["--config", str(config), "eval", "--pairs", str(shapes_file), "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    assert measured["pairs"] == 30
    assert measured["text_to_image"]["R@5"] >= 0.9
    assert measured["image_to_text"]["R@5"] >= 0.9


def test_eval_of_a_file_with_bad_lines_lists_them_and_exits_2(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"image": "gone.jpg", "caption": "a red circle"}\nnot json\n')
    assert main(["--config", str(config), "eval", "--pairs", str(pairs)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "2 bad pair(s)" in err
    assert "line 2: not valid JSON" in err and "gone.jpg): picture not found" in err
