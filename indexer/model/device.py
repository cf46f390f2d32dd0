"""Where the model runs (``model.device``) and at which precision (``model.precision``).

Embedding and fine-tuning follow these rules, kept here as small functions so that the CUDA
choices are tested on machines without a GPU (the tests call them with ``"cuda"`` as a name):

* the device is checked before any model is built, so ``model.device = "cuda"`` on a machine
  without CUDA fails at once, in one line naming the key;
* inference on the CPU keeps bf16 *weights* (measured 3.7× faster than fp32 on AVX-512 BF16,
  docs/BENCHMARKS.md); on CUDA the weights stay float32 and each call runs under
  :func:`torch.autocast` in bf16 or fp16, which keeps the precision-sensitive operations
  (layer norms, softmax) in float32;
* training keeps float32 master weights on every device and runs its forward pass and loss
  under autocast at ``precision``; fp16 (CUDA only) adds a gradient scaler, since small fp16
  gradients underflow to zero, while bf16 has float32's range and needs none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from indexer.errors import ModelLoadError

_AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class PrecisionPlan:
    """How one device runs at one ``model.precision``."""

    #: The dtype the model's weights (and its inputs) are kept in.
    weights: torch.dtype
    #: The dtype :func:`torch.autocast` computes in, or None for no autocast.
    autocast: torch.dtype | None
    #: Whether training scales its loss before the backward pass (fp16 only).
    scale_gradients: bool = False


def select_device(name: str, cuda_available: bool | None = None) -> torch.device:
    """The :class:`torch.device` named by ``model.device``, checked to exist on this machine.

    ``cuda_available`` defaults to :func:`torch.cuda.is_available` (a parameter so that the
    refusal is testable on machines with a GPU as well as without).
    """
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ModelLoadError(
            f'model.device = {name!r} is not a device torch knows ({exc}); use "cpu" or "cuda"'
        ) from None
    if device.type == "cuda":
        available = torch.cuda.is_available() if cuda_available is None else cuda_available
        if not available:
            raise ModelLoadError(
                f"model.device = {name!r} but this machine has no usable CUDA device "
                f"(torch {torch.__version__}, torch.cuda.is_available() is False); "
                'set model.device = "cpu"'
            )
        count = torch.cuda.device_count() if cuda_available is None else None
        if count is not None and device.index is not None and device.index >= count:
            raise ModelLoadError(
                f"model.device = {name!r} but this machine has {count} CUDA device(s) "
                f"(cuda:0 to cuda:{count - 1})"
            )
    elif device.type != "cpu":
        raise ModelLoadError(f'model.device = {name!r}: only "cpu" and "cuda" are supported')
    return device


def inference_plan(device_type: str, precision: str) -> PrecisionPlan:
    """Weights and autocast dtypes for embedding on ``device_type`` at ``precision``."""
    _check_precision(device_type, precision)
    if device_type == "cpu":
        weights = torch.bfloat16 if precision == "bf16" else torch.float32
        return PrecisionPlan(weights=weights, autocast=None)
    return PrecisionPlan(weights=torch.float32, autocast=_AUTOCAST_DTYPES[precision])


def training_plan(device_type: str, precision: str) -> PrecisionPlan:
    """Float32 master weights, autocast at ``precision``, a gradient scaler for fp16 only."""
    _check_precision(device_type, precision)
    return PrecisionPlan(
        weights=torch.float32,
        autocast=_AUTOCAST_DTYPES[precision],
        scale_gradients=precision == "fp16",
    )


def _check_precision(device_type: str, precision: str) -> None:
    if precision not in _AUTOCAST_DTYPES:
        raise ValueError(f"model.precision must be one of {sorted(_AUTOCAST_DTYPES)}")
    if precision == "fp16" and device_type != "cuda":
        raise ModelLoadError(
            f'model.precision = "fp16" needs model.device = "cuda" (it is {device_type!r}); '
            'on a CPU use "bf16" or "fp32"'
        )


@contextlib.contextmanager
def autocast(device: torch.device, plan: PrecisionPlan) -> Iterator[None]:
    """Runs the enclosed model calls under ``plan``'s autocast, or as they are without one."""
    if plan.autocast is None:
        yield
        return
    with torch.autocast(device.type, dtype=plan.autocast):
        yield


def to_device(
    tensor: torch.Tensor, device: torch.device, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """``tensor`` moved to ``device`` (and cast to ``dtype``); copies to a GPU go from pinned
    memory without blocking, so the next batch is prepared while this one is copied."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device=device, dtype=dtype, non_blocking=True)
    return tensor.to(device=device, dtype=dtype)
