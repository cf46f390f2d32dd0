"""The int8 text tower in ONNX Runtime (``model.text_runtime``): the same retrieval as torch,
exported once per model and weights, and never in the way when it cannot run."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from indexer.cli.model import check_folder
from indexer.config import ModelConfig
from indexer.model import onnx_text
from indexer.model.embedder import Embedder
from indexer.model.loading import load_open_clip
from indexer.model.onnx_text import text_tower_file, wants_onnx
from indexer.synthetic import make_dataset
from indexer.training.evaluation import evaluate_retrieval
from indexer.training.pairs import LoadedPair, Pair
from tests.conftest import HELD_OUT_SEED

#: Texts of very different lengths in one batch, so most rows are padded after their end.
TEXTS = [
    "a red circle",
    "cat!",
    "a photo of a small green triangle next to a big blue square on a white table, seen from above",
    "一个红色的圆",
    "",
]


@pytest.fixture(scope="module")
def int8_config(model_config: ModelConfig, tmp_path_factory: pytest.TempPathFactory) -> ModelConfig:
    cache = tmp_path_factory.mktemp("onnx-cache")
    return model_config.model_copy(update={"text_runtime": "onnx-int8", "cache_dir": cache})


@pytest.fixture(scope="module")
def int8_embedder(int8_config: ModelConfig) -> Embedder:
    return Embedder.load(int8_config)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_int8_text_tower_keeps_the_tiny_models_recall_at_5(
    embedder: Embedder, int8_embedder: Embedder
) -> None:
    assert (embedder.text_runtime, int8_embedder.text_runtime) == ("torch", "onnx-int8")
    pairs = [
        LoadedPair(image, caption, f"p{number}", Pair(b"", caption, f"p{number}"))
        for number, (image, spec) in enumerate(make_dataset(240, HELD_OUT_SEED, size=48))
        for caption in spec.captions
    ]
    fp32 = evaluate_retrieval(embedder, pairs).text_to_image.recall[5]
    int8 = evaluate_retrieval(int8_embedder, pairs).text_to_image.recall[5]
    assert fp32 >= 0.8, fp32
    assert abs(int8 - fp32) <= 0.01, (fp32, int8)


def test_int8_vectors_match_torch_at_any_batch_size_and_length(
    embedder: Embedder, int8_embedder: Embedder
) -> None:
    together = int8_embedder.encode_texts(TEXTS)
    alone = np.concatenate([int8_embedder.encode_texts([text]) for text in TEXTS])
    reference = embedder.encode_texts(TEXTS)
    assert _cosines(together, reference).min() >= 0.99
    assert _cosines(alone, reference).min() >= 0.99
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_a_hugging_face_text_tower_runs_in_int8_with_its_padding_masked(
    tiny_xlmr_embedder: Embedder, tiny_xlmr_folder: object, tmp_path: Path
) -> None:
    config = ModelConfig(
        path=tiny_xlmr_folder.path,  # type: ignore[attr-defined]
        text_runtime="onnx-int8",
        cache_dir=tmp_path,
    )
    int8 = Embedder.load(config)
    assert int8.text_runtime == "onnx-int8"
    reference = tiny_xlmr_embedder.encode_texts(TEXTS)
    assert _cosines(int8.encode_texts(TEXTS), reference).min() >= 0.99
    alone = np.concatenate([int8.encode_texts([text]) for text in TEXTS])
    assert _cosines(alone, reference).min() >= 0.99


def test_a_second_start_loads_the_cached_file_without_exporting(
    int8_config: ModelConfig, int8_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_export(*_: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_text, "_export", no_export)
    again = Embedder.load(int8_config)
    assert again.text_runtime == "onnx-int8"
    np.testing.assert_array_equal(again.encode_texts(TEXTS), int8_embedder.encode_texts(TEXTS))


def test_the_cached_file_is_keyed_by_identity_and_by_the_weights(
    model_config: ModelConfig, tmp_path: Path
) -> None:
    model = load_open_clip(model_config).model
    name = text_tower_file(model, "tiny", tmp_path)
    assert text_tower_file(model, "tiny", tmp_path) == name
    assert text_tower_file(model, "tiny-tuned", tmp_path) != name
    with torch.no_grad():
        model.ln_final.weight[0] += 0.5
    assert text_tower_file(model, "tiny", tmp_path) != name
    # the picture tower is not part of the text tower's file
    with torch.no_grad():
        next(model.visual.parameters()).view(-1)[0] += 0.5
    assert text_tower_file(model, "tiny", tmp_path) == text_tower_file(model, "tiny", tmp_path)


def test_without_onnxruntime_texts_run_in_torch_after_one_log_line(
    model_config: ModelConfig,
    embedder: Embedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("onnxruntime", "onnxruntime.quantization"):
        monkeypatch.setitem(sys.modules, name, None)
    config = model_config.model_copy(update={"text_runtime": "onnx-int8", "cache_dir": tmp_path})
    with caplog.at_level(logging.WARNING, logger="indexer.model.onnx_text"):
        fallen_back = Embedder.load(config)
    assert fallen_back.text_runtime == "torch"
    lines = [r.getMessage() for r in caplog.records if r.name == "indexer.model.onnx_text"]
    assert len(lines) == 1 and "pip install onnxruntime onnx onnxscript" in lines[0], lines
    assert 'text_runtime = "torch"' in lines[0]
    np.testing.assert_allclose(
        fallen_back.encode_texts(TEXTS), embedder.encode_texts(TEXTS), atol=1e-6
    )


def test_a_failed_export_runs_texts_in_torch_and_leaves_no_file(
    model_config: ModelConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def failing_export(*_: object) -> None:
        raise RuntimeError("unsupported operator\nmore detail")

    monkeypatch.setattr(onnx_text, "_export", failing_export)
    config = model_config.model_copy(update={"text_runtime": "onnx-int8", "cache_dir": tmp_path})
    with caplog.at_level(logging.WARNING, logger="indexer.model.onnx_text"):
        fallen_back = Embedder.load(config)
    assert fallen_back.text_runtime == "torch"
    assert [r.getMessage() for r in caplog.records if "unsupported operator" in r.getMessage()]
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_auto_takes_int8_only_for_large_text_towers_on_the_cpu(
    embedder: Embedder, model_config: ModelConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_open_clip(model_config).model
    assert embedder.text_runtime == "torch"  # the tiny model: an export would cost more
    assert not wants_onnx(model, ModelConfig(text_runtime="auto"))
    monkeypatch.setattr(onnx_text, "AUTO_MIN_TEXT_WEIGHTS", 1)
    assert wants_onnx(model, ModelConfig(text_runtime="auto"))
    assert not wants_onnx(model, ModelConfig(text_runtime="auto", device="cuda"))
    assert not wants_onnx(model, ModelConfig(text_runtime="torch"))


def test_model_check_works_without_onnxruntime_and_says_texts_run_in_torch(
    tiny_xlmr_folder: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("onnxruntime", "onnxruntime.quantization"):
        monkeypatch.setitem(sys.modules, name, None)
    folder = tiny_xlmr_folder.path  # type: ignore[attr-defined]
    check_folder(folder, ModelConfig(text_runtime="onnx-int8", cache_dir=tmp_path))
    printed = capsys.readouterr().out
    assert "texts      torch\n" in printed and printed.endswith("ok\n")
