"""CLIP model loading and encoding of pictures and texts into normalised vectors.

One :class:`Embedder` wraps one open_clip model. Its :attr:`Embedder.identity` names the exact
weights (architecture + pretrained tag, or architecture + the checkpoint's sha256), and every
stored vector carries it, so vectors of two models are never compared with each other.

Encoding is synchronous and CPU-heavy; the service runs it in a worker thread so the bot's event
loop keeps serving while pictures are embedded.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from PIL import Image

from indexer.calibration import Calibration, calibrate
from indexer.config import ModelConfig
from indexer.device import autocast, inference_plan, select_device, to_device
from indexer.errors import ModelLoadError
from indexer.hub_access import offline_requested, require_hub_for
from indexer.model_folder import ModelFolder, file_sha256, folder_text_cfg, read_folder

log = logging.getLogger(__name__)

#: The project's own model configs (the tiny test model) live beside this module.
MODEL_CONFIG_DIR = Path(__file__).parent / "model_configs"
open_clip.add_model_config(MODEL_CONFIG_DIR)


@dataclass(frozen=True)
class LoadedModel:
    """An open_clip model with the preprocessing and tokenizer that belong to it."""

    model: Any
    preprocess: Any
    tokenizer: Any


def model_identity(config: ModelConfig) -> str:
    """The name stored with every vector: it changes whenever the weights change."""
    if config.path is not None:
        return read_folder(config.path, verify_hashes=False).identity
    if config.checkpoint is not None:
        return f"{config.arch}@sha256:{file_sha256(config.checkpoint)[:16]}"
    return f"{config.arch}/{config.pretrained or 'random-init'}"


def load_open_clip(config: ModelConfig) -> LoadedModel:
    """Loads the model named by ``config``, or raises one :class:`ModelLoadError` saying why.

    ``model.device`` is checked first, so a missing GPU is reported before anything loads.
    """
    select_device(config.device)
    if config.path is not None:
        return _finish_loading(load_folder(read_folder(config.path), config.device), config)
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
    if _needs_hub(config):
        require_hub_for(f"{config.arch}/{config.pretrained or 'random-init'}")
    log.info("loading CLIP model %s on %s (%s)", config.arch, config.device, config.precision)
    try:
        with _open_clip_errors_unlogged():
            model, _, preprocess = open_clip.create_model_and_transforms(
                config.arch,
                pretrained=weights,
                device=config.device,
                cache_dir=str(config.cache_dir) if config.cache_dir else None,
            )
            tokenizer = open_clip.get_tokenizer(config.arch)
    except Exception as exc:
        if config.checkpoint is not None:
            tried = f"checkpoint file {config.checkpoint}"
        elif offline_requested(os.environ):
            tried = (
                f"pretrained tag {config.pretrained!r} in the Hugging Face cache (HF_HUB_OFFLINE)"
            )
        else:
            tried = f"pretrained tag {config.pretrained!r} (model hub)"
        raise ModelLoadError(
            f"could not load model {config.arch!r} from {tried}: {_first_line(exc)}; "
            "for a machine without network, see `python -m indexer model export` and model.path"
        ) from exc
    return _finish_loading(
        LoadedModel(model=model, preprocess=preprocess, tokenizer=tokenizer), config
    )


def load_folder(folder: ModelFolder, device: str = "cpu") -> LoadedModel:
    """Loads a verified model folder with open_clip's ``local-dir:`` loader, fully offline.

    Every file is named by its path in the folder (:func:`folder_text_cfg`), so neither
    open_clip nor transformers has a hub name left to look up.
    """
    source = f"local-dir:{folder.path}"
    log.info("loading CLIP model %s from the folder %s on %s", folder.arch, folder.path, device)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            source, device=device, text_cfg=folder_text_cfg(folder)
        )
        tokenizer = open_clip.get_tokenizer(source)
    except Exception as exc:
        raise ModelLoadError(
            f"could not load the model folder {folder.path}: {_first_line(exc)}"
        ) from exc
    return LoadedModel(model=model, preprocess=preprocess, tokenizer=tokenizer)


def _needs_hub(config: ModelConfig) -> bool:
    """Whether loading ``config`` fetches anything from the model hub (or its cache)."""
    downloads_weights = config.checkpoint is None and bool(
        config.pretrained and open_clip.get_pretrained_cfg(config.arch, config.pretrained)
    )
    return downloads_weights or has_hf_text_tower(config.arch)


def has_hf_text_tower(arch: str) -> bool:
    """Whether ``arch``'s text tower is a Hugging Face model (fetched by name from the hub)."""
    config = open_clip.get_model_config(arch) or {}
    return "hf_model_name" in config.get("text_cfg", {})


def _finish_loading(loaded: LoadedModel, config: ModelConfig) -> LoadedModel:
    """Puts a freshly built model in inference mode with the weights' dtype of its precision."""
    loaded.model.eval()
    plan = inference_plan(select_device(config.device).type, config.precision)
    loaded.model.to(plan.weights)
    return loaded


@contextmanager
def _open_clip_errors_unlogged() -> Iterator[None]:
    """Keeps open_clip from logging a failure that the caller reports in its own error line.

    open_clip logs a failed download on the root logger and then raises it; the raised error
    becomes this module's one-line :class:`ModelLoadError`, so the log line would only repeat it.
    """
    package = str(Path(open_clip.__file__).parent)

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR or not record.pathname.startswith(package)

    logging.root.addFilter(keep)
    try:
        yield
    finally:
        logging.root.removeFilter(keep)


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message: library errors can run to pages."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def can_trim_text(model: Any) -> bool:
    """Whether :func:`encode_text_trimmed` gives ``model.encode_text``'s vectors.

    True for open_clip's own text tower (:class:`open_clip.CLIP`): it is causally masked and
    pools at the end-of-text token (the argmax of the token ids), so no output it pools depends
    on the padding after that token. Hugging Face text towers (``CustomTextCLIP``, e.g.
    xlm-roberta) attend in both directions: :func:`hf_pad_token_id` covers them.
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


def hf_pad_token_id(model: Any) -> int | None:
    """The padding token of a Hugging Face text tower, if ``model`` has one.

    open_clip's ``HFTextEncoder`` masks attention to the padding tokens and its poolers (mean,
    CLS) weigh only unmasked positions; XLM-R's position ids count only non-padding tokens.
    So padding columns that are padding in every row of a batch change no vector, and
    :func:`encode_hf_text_trimmed` may drop them.
    """
    text = getattr(model, "text", None)
    if not isinstance(text, open_clip.hf_model.HFTextEncoder):
        return None
    pad = getattr(text.config, "pad_token_id", None)
    return None if pad is None else int(pad)


def encode_hf_text_trimmed(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text`` on the batch cut after its last column holding a real token.

    The tokenizer pads every query to the context length (77); a query has about 10 tokens,
    and a transformer's cost grows with the length, so this saves most of the text tower's work.
    """
    real = (tokens != hf_pad_token_id(model)).any(dim=0).nonzero()
    length = int(real.max()) + 1 if len(real) else 1
    return model.encode_text(tokens[:, :length])


def _encode_text_full(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    return model.encode_text(tokens)


def text_encoder_for(model: Any) -> Callable[[Any, torch.Tensor], torch.Tensor]:
    """The fastest way to encode ``model``'s tokens that gives its untrimmed vectors."""
    if can_trim_text(model):
        return encode_text_trimmed
    if hf_pad_token_id(model) is not None:
        return encode_hf_text_trimmed
    return _encode_text_full


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
        self._device = select_device(config.device)
        self._plan = inference_plan(self._device.type, config.precision)
        self._encode_tokens = text_encoder_for(self._model)
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
        """Loads the configured model; slow (seconds to minutes), so call it off the event loop."""
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
