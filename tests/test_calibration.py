"""Per-model thresholds calibrated from unrelated pairs separate the shapes world's related
and unrelated pairs at least as well as the fixed constants they replace, on the tiny trained
model and on a random-weight XLM-R folder; configured values still win."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.config import ModelConfig
from indexer.model.embedder import Embedder
from indexer.records import SearchHit
from indexer.service import IndexService
from indexer.synthetic import ALL_SPECS, ShapeSpec, make_dataset
from tests.conftest import make_config
from tests.helpers import index_pictures

#: Before calibration: a caption or tag matched a query by meaning at cosine ≥ 0.92, and a
#: text query had no absolute floor for pictures.
TEXT_MATCH_CONSTANT = 0.92
NO_FLOOR = -1.0


def balanced_accuracy(related: np.ndarray, unrelated: np.ndarray, threshold: float) -> float:
    """Mean of the share of related pairs kept and the share of unrelated pairs left out."""
    return float(((related >= threshold).mean() + (unrelated < threshold).mean()) / 2)


def shapes_world_pairs(embedder: Embedder) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Related and unrelated cosines: English ↔ Chinese captions, captions ↔ pictures."""
    english = embedder.encode_texts([spec.caption_en for spec in ALL_SPECS])
    chinese = embedder.encode_texts([spec.caption_zh for spec in ALL_SPECS])
    same = np.eye(len(ALL_SPECS), dtype=bool)
    text_text = english @ chinese.T
    pictures = make_dataset(4 * len(ALL_SPECS), seed=31_337)
    labels = np.array([ALL_SPECS.index(spec) for _, spec in pictures])
    text_picture = (
        np.concatenate([english, chinese])
        @ embedder.encode_images([image for image, _ in pictures]).T
    )
    shows = np.concatenate([np.arange(len(ALL_SPECS))] * 2)[:, None] == labels[None, :]
    return {
        "text_text": (text_text[same], text_text[~same]),
        "text_picture": (text_picture[shows], text_picture[~shows]),
    }


#: A random-weight model cannot tell related from unrelated: every threshold is at chance
#: (balanced accuracy 0.5) up to sampling noise, which this allows for; the trained one has none.
CHANCE_NOISE = {"tiny trained": 0.0, "tiny XLM-R random": 0.02}


@pytest.mark.parametrize("which", list(CHANCE_NOISE))
def test_calibrated_thresholds_separate_at_least_as_well_as_the_constants(
    which: str, embedder: Embedder, tiny_xlmr_embedder: Embedder
) -> None:
    model = embedder if which == "tiny trained" else tiny_xlmr_embedder
    calibration = model.calibration
    pairs = shapes_world_pairs(model)
    for kind, calibrated, constant in (
        ("text_text", calibration.text_text, TEXT_MATCH_CONSTANT),
        ("text_picture", calibration.text_picture, NO_FLOOR),
    ):
        related, unrelated = pairs[kind]
        assert balanced_accuracy(related, unrelated, calibrated) >= (
            balanced_accuracy(related, unrelated, constant) - CHANCE_NOISE[which]
        ), kind


def test_calibration_is_fit_for_the_trained_model(embedder: Embedder) -> None:
    pairs = shapes_world_pairs(embedder)
    for kind, threshold in (
        ("text_text", embedder.calibration.text_text),
        ("text_picture", embedder.calibration.text_picture),
    ):
        related, unrelated = pairs[kind]
        assert balanced_accuracy(related, unrelated, threshold) >= 0.9, kind


async def test_configured_threshold_wins_and_calibration_is_stored_once(
    tmp_path: Path, model_config: ModelConfig, embedder: Embedder
) -> None:
    calibrated = make_config(tmp_path / "data", model_config)
    async with await IndexService.open(calibrated, embedder) as service:
        assert service.thresholds.text_match_min == embedder.calibration.text_text
        assert not service.thresholds.text_match_configured
    configured = make_config(tmp_path / "data", model_config, search={"text_match_min": 0.5})
    fresh = Embedder.load(model_config)  # measures nothing unless asked: it was stored
    async with await IndexService.open(configured, fresh) as service:
        assert service.thresholds.text_match_min == 0.5
        assert service.thresholds.text_match_configured
        assert service.thresholds.calibration == embedder.calibration
    assert "calibration" not in fresh.__dict__


async def test_a_description_shows_no_picture_below_the_calibrated_floor_when_asked(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    """With the calibrated floor, a group holding only red and blue pictures answers "a green
    triangle" with nothing, and still answers "a red circle" with its red circles; without a
    floor (the default) it shows its least unrelated pictures."""
    shown = [(data, spec) for data, spec in held_out_pictures if spec.colour.en in ("red", "blue")]
    absent = next(s for s in ALL_SPECS if s.colour.en not in ("red", "blue"))
    present = next(s for _, s in shown)
    floors: dict[str, dict[str, object]] = {
        "calibrated": {"picture_match_min": "calibrated"},
        "off": {},  # the default: no floor
    }
    found: dict[str, dict[str, list[SearchHit]]] = {}
    for name, search in floors.items():
        config = make_config(tmp_path / name, model_config, search=search)
        async with await IndexService.open(config, embedder) as service:
            indexed = await index_pictures(service, "group", shown)
            found[name] = {
                query: await service.search_text(["group"], query, k=5)
                for query in (absent.caption_en, absent.caption_zh, present.caption_en)
            }
    assert found["calibrated"][absent.caption_en] == []
    assert found["calibrated"][absent.caption_zh] == []
    related = found["calibrated"][present.caption_en]
    assert related and indexed[related[0].image.id] == present
    assert all(hit.score >= embedder.calibration.text_picture for hit in related)
    assert len(found["off"][absent.caption_en]) == 5
