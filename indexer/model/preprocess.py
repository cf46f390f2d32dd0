"""A model's picture preprocessing with no torch operation in it, for the decode threads.

open_clip's preprocessing resizes and crops with Pillow, then turns the picture into a tensor
and normalises it with torch operations. In the decode threads those torch operations compete
with the model thread for torch's intra-op threads: under load they took 31–48 ms a picture
against 2.2 ms for the same arithmetic in numpy (issue 21). Here the last two steps are done in
numpy in float32, the same operations in the same order (divide by 255, subtract the mean,
divide by the standard deviation), so the tensor is the one torch makes, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

Preprocess = Callable[[Image.Image], torch.Tensor]


def without_torch_ops(preprocess: Any) -> Preprocess:
    """``preprocess`` with its to-tensor and normalise steps done in numpy.

    Only open_clip's usual shape is rewritten: a ``Compose`` of Pillow steps ending in a
    to-tensor step and ``Normalize``. Any other preprocessing is returned as it is.
    """
    steps = getattr(preprocess, "transforms", None)
    if not isinstance(preprocess, transforms.Compose) or steps is None or len(steps) < 2:
        return preprocess  # type: ignore[no-any-return]
    to_tensor, normalize = steps[-2], steps[-1]
    if not _is_to_tensor(to_tensor) or not isinstance(normalize, transforms.Normalize):
        return preprocess  # type: ignore[no-any-return]
    pillow_steps = transforms.Compose(steps[:-2])
    mean = np.asarray(normalize.mean, dtype=np.float32)
    std = np.asarray(normalize.std, dtype=np.float32)

    def preprocess_in_numpy(image: Image.Image) -> torch.Tensor:
        pixels = np.asarray(pillow_steps(image), dtype=np.float32)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        pixels = (pixels / np.float32(255) - mean) / std
        return torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))

    return preprocess_in_numpy


def _is_to_tensor(step: Any) -> bool:
    """torchvision's ``ToTensor`` or open_clip's ``MaybeToTensor`` (the same for pictures)."""
    return isinstance(step, transforms.ToTensor) or type(step).__name__ == "MaybeToTensor"
