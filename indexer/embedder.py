"""CLIP model loading and encoding of pictures and texts into normalised vectors.

One :class:`Embedder` wraps one open_clip model. Its :attr:`Embedder.identity` names the exact
weights (architecture + pretrained tag, or architecture + the checkpoint's sha256), and every
stored vector carries it, so vectors of two models are never compared with each other.

Encoding is synchronous and CPU-heavy; the service runs it in a worker thread so the bot's event
loop keeps serving while pictures are embedded.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from PIL import Image

from indexer.config import ModelConfig
from indexer.errors import ModelLoadError

log = logging.getLogger(__name__)

#: The project's own model configs (the tiny test model) live beside this module.
MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"
open_clip.add_model_config(MODEL_CONFIG_DIR)

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class LoadedModel:
    """An open_clip model with the preprocessing and tokenizer that belong to it."""

    model: Any
    preprocess: Any
    tokenizer: Any


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so multi-GB checkpoints need no memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_identity(config: ModelConfig) -> str:
    """The name stored with every vector: it changes whenever the weights change."""
    if config.checkpoint is not None:
        return f"{config.arch}@sha256:{file_sha256(config.checkpoint)[:16]}"
    return f"{config.arch}/{config.pretrained or 'random-init'}"


def load_open_clip(config: ModelConfig) -> LoadedModel:
    """Loads the model named by ``config``, or raises one :class:`ModelLoadError` saying why."""
    if config.arch not in open_clip.list_models():
        raise ModelLoadError(
            f"unknown model architecture {config.arch!r} (model.arch); "
            "`python -c 'import open_clip; print(open_clip.list_models())'` lists them"
        )
    if config.checkpoint is not None and not config.checkpoint.is_file():
        raise ModelLoadError(f"model.checkpoint does not exist: {config.checkpoint}")
    weights = str(config.checkpoint) if config.checkpoint is not None else config.pretrained
    if config.checkpoint is None and config.pretrained is None:
        log.warning("model %s has no pretrained weights: results will be random", config.arch)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            config.arch,
            pretrained=weights,
            device=config.device,
            cache_dir=str(config.cache_dir) if config.cache_dir else None,
        )
        tokenizer = open_clip.get_tokenizer(config.arch)
    except Exception as exc:
        tried = (
            f"checkpoint file {config.checkpoint}"
            if config.checkpoint is not None
            else f"pretrained tag {config.pretrained!r} (downloaded from the model hub)"
        )
        hint = (
            ""
            if config.checkpoint is not None
            else "; without network access, download the weights on another machine "
            "and set model.checkpoint to the file"
        )
        raise ModelLoadError(
            f"could not load model {config.arch!r} from {tried}: {exc}{hint}"
        ) from exc
    model.eval()
    model.to(_DTYPES[config.precision])
    return LoadedModel(model=model, preprocess=preprocess, tokenizer=tokenizer)


def can_trim_text(model: Any) -> bool:
    """Whether :func:`encode_text_trimmed` gives ``model.encode_text``'s vectors.

    True for open_clip's own text tower (:class:`open_clip.CLIP`): it is causally masked and
    pools at the end-of-text token (the argmax of the token ids), so no output it pools depends
    on the padding after that token. Hugging Face text towers (``CustomTextCLIP``, e.g.
    xlm-roberta) attend in both directions and are left alone.
    """
    return (
        isinstance(model, open_clip.CLIP)
        and model.text_pool_type == "argmax"
        and model.attn_mask is not None
    )


def encode_text_trimmed(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """``open_clip.CLIP.encode_text`` run only up to the batch's last end-of-text token.

    Queries are a few tokens long and padded to the context length (77 for ViT-B-32); cutting
    the padding saves most of the text tower's work and, by :func:`can_trim_text`'s argument,
    changes no vector beyond float rounding. The steps mirror open_clip 3.x's ``encode_text``
    with the positional embedding and causal mask sliced to the shorter length.
    """
    length = int(tokens.argmax(dim=-1).max()) + 1
    tokens = tokens[:, :length]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype)
    x = x + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    projection = model.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection


def _encode_text_full(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    return model.encode_text(tokens)


def model_input_side(model: Any) -> int:
    """The picture size an open_clip model takes: the side to shrink pictures to for it.

    One fact for every user: the indexer's decoding, fine-tuning and evaluation.
    """
    size = model.visual.image_size
    return max(size) if isinstance(size, tuple | list) else int(size)


class Embedder:
    """Encodes pictures and texts with one CLIP model into L2-normalised float32 vectors."""

    def __init__(self, loaded: LoadedModel, identity: str, config: ModelConfig) -> None:
        self._model = loaded.model
        self._preprocess = loaded.preprocess
        self._tokenizer = loaded.tokenizer
        self._device = torch.device(config.device)
        self._dtype = _DTYPES[config.precision]
        self._encode_tokens = (
            encode_text_trimmed if can_trim_text(self._model) else _encode_text_full
        )
        self.identity = identity
        self.batch_size = config.batch_size
        self.dim = int(self.encode_texts(["a"]).shape[1])
        #: The shorter side of the model's input; decoding pictures larger than this is waste.
        self.input_side = model_input_side(self._model)

    @classmethod
    def load(cls, config: ModelConfig) -> Embedder:
        """Loads the configured model; slow (seconds to minutes), so call it off the event loop."""
        log.info("loading CLIP model %s on %s (%s)", config.arch, config.device, config.precision)
        loaded = load_open_clip(config)
        return cls(loaded, model_identity(config), config)

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """Resizes, crops and normalises one RGB picture into the model's input tensor."""
        tensor: torch.Tensor = self._preprocess(image)
        return tensor

    def encode_pixels(self, pixels: Sequence[torch.Tensor]) -> np.ndarray:
        """Encodes preprocessed pictures, in batches of ``batch_size``."""
        return self._in_batches(
            pixels,
            lambda chunk: self._model.encode_image(
                torch.stack(list(chunk)).to(self._device, self._dtype)
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
                self._model, self._tokenizer(list(chunk)).to(self._device)
            ),
        )

    def _in_batches(
        self, items: Sequence[Any], encode: Callable[[Sequence[Any]], torch.Tensor]
    ) -> np.ndarray:
        """Runs ``encode`` over batches and returns the normalised float32 vectors."""
        if len(items) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                features = encode(items[start : start + self.batch_size]).float()
                outputs.append(torch.nn.functional.normalize(features, dim=-1).cpu().numpy())
        return np.ascontiguousarray(np.concatenate(outputs), dtype=np.float32)
