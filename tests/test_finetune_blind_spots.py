"""Fine-tuning that cannot show what it taught says so, instead of a table of perfect scores
that reads as success (issue 22, item 9)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from indexer.training.card import CardData, Measured, held_out_blind_spots
from indexer.training.evaluation import DirectionMetrics, RetrievalReport
from indexer.training.pairs import LoadedPair, Pair, PairSource


def _pair(caption: str, picture: str) -> LoadedPair:
    return LoadedPair(
        Image.new("RGB", (4, 4)), caption, picture, Pair(Path(picture), caption, picture)
    )


def _report(recall: float) -> RetrievalReport:
    metrics = DirectionMetrics({1: recall, 5: recall, 10: recall}, 1.0, 4, 4)
    return RetrievalReport(4, metrics, metrics)


def _data(train: list[LoadedPair], held_out: list[LoadedPair]) -> CardData:
    return CardData(PairSource([], [], {}), [*train, *held_out], train, held_out, None)


def test_held_out_pairs_without_a_taught_caption_and_a_perfect_start_are_named() -> None:
    train = [_pair("人民广场", f"p{n}") for n in range(4)]
    held_out = [_pair("a red circle", "q1"), _pair("a blue square", "q2")]

    notes = held_out_blind_spots(_data(train, held_out), Measured(_report(1.0), None))

    assert len(notes) == 2
    assert "share no caption with the training pairs" in notes[0]
    assert "already perfect before training" in notes[1]


def test_a_held_out_set_that_can_show_learning_gets_no_note() -> None:
    train = [_pair("人民广场", f"p{n}") for n in range(4)]
    held_out = [_pair("人民广场", "q1"), _pair("a blue square", "q2")]

    assert held_out_blind_spots(_data(train, held_out), Measured(_report(0.5), None)) == []
