"""``model.device`` and ``model.precision``: the GPU rules, exercised on a machine without one.

The choices (which device, weights in which dtype, autocast in which, a gradient scaler or not)
are pure functions tested with ``"cuda"`` as a name; the training loop runs through the same
code that moves the model and each batch, on the CPU, under ``torch.autocast("cpu", bf16)``.
A missing GPU is simulated by making :func:`torch.cuda.is_available` answer False, so the
refusal tests mean the same on machines with a GPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from indexer.cli import main
from indexer.config import ModelConfig
from indexer.device import (
    PrecisionPlan,
    autocast,
    inference_plan,
    select_device,
    to_device,
)
from indexer.embedder import Embedder
from indexer.errors import ModelLoadError
from indexer.tiny_model import TINY_MODEL_NAME


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


def test_fp16_on_the_cpu_is_refused_naming_the_key() -> None:
    with pytest.raises(ModelLoadError, match=r'model\.precision = "fp16" needs model\.device'):
        inference_plan("cpu", "fp16")


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


def test_the_cli_names_the_device_key_in_one_error_line(
    no_cuda: None, tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[model]\narch = "{TINY_MODEL_NAME}"\npretrained = ""\n'
        f'checkpoint = "{tiny_checkpoint}"\ndevice = "cuda"\n'
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
    )
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    assert main(["--config", str(config), "index", str(pictures), "--collection", "photos"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: model.device = 'cuda'"), err
