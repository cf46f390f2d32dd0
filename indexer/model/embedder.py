"""Encoding pictures and texts into normalised vectors with one loaded CLIP model.

One :class:`Embedder` wraps one open_clip model (loaded by :mod:`indexer.model.loading`). Its
:attr:`Embedder.identity` names the exact weights (architecture + pretrained tag, or
architecture + the checkpoint's sha256; :mod:`indexer.model.identity`), and every stored vector
carries it, so vectors of two models are never compared with each other.

Encoding is synchronous and CPU-heavy; the service runs it in a worker thread so the bot's event
loop keeps serving while pictures are embedded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from indexer.config import ModelConfig
from indexer.model.calibration import calibrate
from indexer.model.device import autocast, inference_plan, select_device, to_device
from indexer.model.identity import model_identity
from indexer.model.loading import LoadedModel, load_open_clip
from indexer.model.onnx_text import OnnxTextEncoder, open_text_encoder
from indexer.model.preprocess import without_torch_ops
from indexer.model.text_trim import text_encoder_for
from indexer.records import Calibration


def model_input_side(model: Any) -> int:
    """The picture size an open_clip model takes: the side to shrink pictures to for it.

    One fact for every user: the indexer's decoding, fine-tuning and evaluation.
    """
    size = model.visual.image_size
    return max(size) if isinstance(size, tuple | list) else int(size)


class Embedder:
    """Encodes pictures and texts with one CLIP model into L2-normalised float32 vectors."""

    def __init__(
        self,
        loaded: LoadedModel,
        identity: str,
        config: ModelConfig,
        text_encoder: OnnxTextEncoder | None = None,
    ) -> None:
        self._model = loaded.model
        self._preprocess = without_torch_ops(loaded.preprocess)
        self._tokenizer = loaded.tokenizer
        self._device = select_device(config.device)
        self._plan = inference_plan(self._device.type, config.precision)
        self._encode_tokens = text_encoder or text_encoder_for(self._model)
        #: How texts are encoded: "onnx-int8" or "torch" (``model.text_runtime``, resolved).
        self.text_runtime = "torch" if text_encoder is None else "onnx-int8"
        self.identity = identity
        self.batch_size = config.batch_size
        self.dim = int(self.encode_texts(["a"]).shape[1])
        #: The shorter side of the model's input; decoding pictures larger than this is waste.
        self.input_side = model_input_side(self._model)

    @functools.cached_property
    def calibration(self) -> Calibration:
        """This model's calibrated thresholds, measured on first use (seconds for the default
        model; the service stores them in SQLite so that a restart does not measure again)."""
        return calibrate(self)

    @classmethod
    def load(cls, config: ModelConfig) -> Embedder:
        """Loads the configured model, its text tower in the runtime ``model.text_runtime``
        picks; slow (seconds to minutes), so call it off the event loop."""
        loaded = load_open_clip(config)
        identity = model_identity(config)
        return cls(loaded, identity, config, open_text_encoder(loaded, identity, config))

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """Resizes, crops and normalises one RGB picture into the model's input tensor, with no
        torch operation (:mod:`indexer.model.preprocess`): it runs in the decode threads."""
        tensor: torch.Tensor = self._preprocess(image)
        return tensor

    def encode_pixels(self, pixels: Sequence[torch.Tensor]) -> np.ndarray:
        """Encodes preprocessed pictures, in batches of ``batch_size``."""
        return self._in_batches(
            pixels,
            lambda chunk: self._model.encode_image(
                to_device(torch.stack(list(chunk)), self._device, self._plan.weights)
            ),
        )

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Encodes RGB pictures (preprocessing included)."""
        return self.encode_pixels([self.preprocess(image) for image in images])

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encodes texts; longer ones are cut at the model's context length by its tokenizer."""
        return self._in_batches(
            texts,
            lambda chunk: self._encode_tokens(
                self._model, to_device(self._tokenizer(list(chunk)), self._device)
            ),
        )

    def _in_batches(
        self, items: Sequence[Any], encode: Callable[[Sequence[Any]], torch.Tensor]
    ) -> np.ndarray:
        """Runs ``encode`` over batches and returns the normalised float32 vectors."""
        if len(items) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        outputs = []
        with torch.inference_mode(), autocast(self._device, self._plan):
            for start in range(0, len(items), self.batch_size):
                features = encode(items[start : start + self.batch_size]).float()
                outputs.append(torch.nn.functional.normalize(features, dim=-1).cpu().numpy())
        return np.ascontiguousarray(np.concatenate(outputs), dtype=np.float32)
