"""``model.device`` and ``model.precision``: the GPU rules, exercised on a machine without one.

The choices (which device, weights in which dtype, autocast in which, a gradient scaler or not)
are pure functions tested with ``"cuda"`` as a name; the training loop runs through the same
code that moves the model and each batch, on the CPU, under ``torch.autocast("cpu", bf16)``.
A missing GPU is simulated by making :func:`torch.cuda.is_available` answer False, so the
refusal tests mean the same on machines with a GPU.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from indexer.cli import main
from indexer.config import IndexerConfig, ModelConfig
from indexer.errors import ModelLoadError
from indexer.model.device import (
    PrecisionPlan,
    autocast,
    inference_plan,
    select_device,
    to_device,
    training_plan,
)
from indexer.model.embedder import Embedder
from indexer.synthetic import make_dataset
from indexer.training.finetune import FinetuneOptions, finetune
from indexer.training.loop import TrainConfig, train_contrastive
from indexer.training.pairs import read_pairs_file
from indexer.training.tiny_model import TINY_MODEL_NAME, card_path, create_tiny_model
from tests.local_names import group_pairs, write_pairs_file


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cpu_is_always_a_device() -> None:
    assert select_device("cpu") == torch.device("cpu")


def test_cuda_is_accepted_where_cuda_is_available() -> None:
    assert select_device("cuda", cuda_available=True).type == "cuda"
    assert select_device("cuda:1", cuda_available=True) == torch.device("cuda", 1)


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_refused_naming_the_key(name: str) -> None:
    with pytest.raises(ModelLoadError, match=r'model\.device = .cuda.* set model\.device = "cpu"'):
        select_device(name, cuda_available=False)


@pytest.mark.parametrize("name", ["gpu", "mps", "cuda:x"])
def test_other_devices_are_refused_naming_the_key(name: str) -> None:
    with pytest.raises(ModelLoadError, match=r"model\.device"):
        select_device(name, cuda_available=True)


def test_inference_on_cpu_keeps_bf16_weights_and_no_autocast() -> None:
    assert inference_plan("cpu", "fp32") == PrecisionPlan(torch.float32, None)
    assert inference_plan("cpu", "bf16") == PrecisionPlan(torch.bfloat16, None)


@pytest.mark.parametrize(
    ("precision", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16)]
)
def test_inference_on_cuda_keeps_float32_weights_under_autocast(
    precision: str, dtype: torch.dtype
) -> None:
    plan = inference_plan("cuda", precision)
    assert (plan.weights, plan.autocast) == (torch.float32, dtype)
    assert inference_plan("cuda", "fp32").autocast is None


@pytest.mark.parametrize("device_type", ["cpu", "cuda"])
def test_training_keeps_float32_weights_and_autocasts_at_the_precision(device_type: str) -> None:
    assert training_plan(device_type, "fp32") == PrecisionPlan(torch.float32, None, False)
    assert training_plan(device_type, "bf16") == PrecisionPlan(torch.float32, torch.bfloat16, False)


def test_training_scales_gradients_for_fp16_on_cuda_only() -> None:
    assert training_plan("cuda", "fp16") == PrecisionPlan(torch.float32, torch.float16, True)


@pytest.mark.parametrize("plan", [inference_plan, training_plan])
def test_fp16_on_the_cpu_is_refused_naming_the_key(
    plan: Callable[[str, str], PrecisionPlan],
) -> None:
    with pytest.raises(ModelLoadError, match=r'model\.precision = "fp16" needs model\.device'):
        plan("cpu", "fp16")


def test_fp16_is_a_valid_precision_on_cuda_only_in_the_config() -> None:
    assert ModelConfig(device="cuda", precision="fp16").precision == "fp16"
    with pytest.raises(ValueError, match=r'model\.precision = "fp16" needs model\.device'):
        ModelConfig(precision="fp16")


def test_autocast_computes_in_the_plans_dtype_on_the_cpu() -> None:
    layer = torch.nn.Linear(4, 4)
    cpu = torch.device("cpu")
    with autocast(cpu, PrecisionPlan(torch.float32, torch.bfloat16)):
        assert layer(torch.ones(1, 4)).dtype == torch.bfloat16
    with autocast(cpu, PrecisionPlan(torch.float32, None)):
        assert layer(torch.ones(1, 4)).dtype == torch.float32


def test_to_device_moves_and_casts() -> None:
    moved = to_device(torch.ones(2, dtype=torch.float64), torch.device("cpu"), torch.bfloat16)
    assert (moved.device.type, moved.dtype) == ("cpu", torch.bfloat16)


def test_loading_a_model_on_a_missing_gpu_fails_before_anything_loads(
    no_cuda: None, model_config: ModelConfig
) -> None:
    config = model_config.model_copy(update={"device": "cuda"})
    with pytest.raises(ModelLoadError, match=r"model\.device = 'cuda'"):
        Embedder.load(config)


def cuda_config(folder: Path, checkpoint: Path) -> Path:
    """A config file for the tiny model on ``model.device = "cuda"``."""
    config = folder / "config.toml"
    config.write_text(
        f'[model]\narch = "{TINY_MODEL_NAME}"\npretrained = ""\n'
        f'checkpoint = "{checkpoint}"\ndevice = "cuda"\n'
        f'[storage]\ndata_dir = "{folder / "data"}"\n[ocr]\nenabled = false\n'
    )
    return config


def printed_after_one_device_error(capsys: pytest.CaptureFixture[str]) -> str:
    """What the CLI printed, once its errors are checked to be one line naming the device key."""
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: model.device = 'cuda'"), err
    return captured.out


def test_the_cli_names_the_device_key_in_one_error_line(
    no_cuda: None, tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cuda_config(tmp_path, tiny_checkpoint)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    assert main(["--config", str(config), "index", str(pictures), "--collection", "photos"]) != 0
    printed_after_one_device_error(capsys)


def _train_tiny(
    precision: str, steps: int
) -> tuple[list[float], set[torch.dtype], torch.nn.Module, dict[str, torch.Tensor]]:
    """A fresh tiny model trained on the CPU through the device code path: its losses, the
    dtypes its image tower computed in (seen by a forward hook), the model and its first state."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model, preprocess, tokenizer = create_tiny_model()
    first = {k: v.clone() for k, v in model.state_dict().items()}
    seen: set[torch.dtype] = set()
    model.visual.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
    pairs = [(image, spec.caption_en) for image, spec in make_dataset(16, seed=5)]
    config = TrainConfig(steps=steps, batch_size=8, device="cpu", precision=precision)
    return train_contrastive(model, pairs, preprocess, tokenizer, config), seen, model, first


def test_training_under_bf16_autocast_updates_float32_master_weights() -> None:
    losses, seen, model, first = _train_tiny("bf16", steps=2)
    assert seen == {torch.bfloat16}  # the forward pass ran under autocast
    assert all(math.isfinite(loss) for loss in losses) and len(losses) == 2
    assert {(p.dtype, p.device.type) for p in model.parameters()} == {(torch.float32, "cpu")}
    state = model.state_dict()
    assert not torch.equal(state["text_projection"], first["text_projection"])


def test_training_in_fp32_runs_without_autocast() -> None:
    _, seen, _, _ = _train_tiny("fp32", steps=1)
    assert seen == {torch.float32}


def test_finetune_under_bf16_autocast_writes_a_float16_cpu_checkpoint_that_loads(
    tmp_path: Path, model_config: ModelConfig
) -> None:
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", group_pairs(8, 24, seed=3))
    out = tmp_path / "tuned.pt"
    options = FinetuneOptions(out=out, epochs=1, batch_size=16, lr=3e-4, held_out=0.2)
    config = IndexerConfig(model=model_config.model_copy(update={"precision": "bf16"}))
    finetune(config, read_pairs_file(pairs), options, None, say=lambda _: None)

    card = json.loads(card_path(out).read_text())
    assert card["trained_with"] == {"device": "cpu", "precision": "bf16"}
    assert card["measured_with"]["precision"] == "fp32"
    state = torch.load(out, map_location="meta", weights_only=True)
    assert {t.dtype for t in state.values() if t.is_floating_point()} == {torch.float16}
    tuned = Embedder.load(ModelConfig(arch=TINY_MODEL_NAME, checkpoint=out))
    assert tuned.encode_texts(["a red circle"]).shape == (1, tuned.dim)


def test_finetune_on_a_missing_gpu_fails_in_one_line_before_training(
    no_cuda: None, tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = cuda_config(tmp_path, tiny_checkpoint)
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", group_pairs(2, 4, seed=1))
    out = tmp_path / "tuned.pt"
    args = ["--config", str(config), "finetune", "--pairs", str(pairs), "--out", str(out)]
    assert main(args) != 0
    assert "fine-tuning" not in printed_after_one_device_error(capsys)
    assert not out.exists() and not card_path(out).exists()
