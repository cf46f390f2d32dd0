"""Getting a CLIP model: open_clip by architecture and pretrained tag or checkpoint, or a model
folder, in inference mode at its precision; or one :class:`ModelLoadError` saying why not.

Running it is :mod:`indexer.model.embedder`'s job (as rclip keeps ``model_download`` apart
from ``model``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import open_clip

from indexer.config import ModelConfig
from indexer.errors import ModelLoadError
from indexer.invocation import indexer_command
from indexer.model.device import inference_plan, select_device
from indexer.model.folder import ModelFolder, folder_text_cfg, read_folder
from indexer.model.hub import offline_requested, require_hub_for

log = logging.getLogger(__name__)

#: The project's own model configs (the tiny test model) live beside this module.
MODEL_CONFIG_DIR = Path(__file__).resolve().parent.parent / "model_configs"
open_clip.add_model_config(MODEL_CONFIG_DIR)


@dataclass(frozen=True)
class LoadedModel:
    """An open_clip model with the preprocessing and tokenizer that belong to it."""

    model: Any
    preprocess: Any
    tokenizer: Any


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
        with _open_clip_repeats_unlogged():
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
            f"could not load model {config.arch!r} from {tried}: {first_line(exc)}; "
            f"for a machine without network, see `{indexer_command()} model export` and model.path"
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
            f"could not load the model folder {folder.path}: {first_line(exc)}"
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
def _open_clip_repeats_unlogged() -> Iterator[None]:
    """Keeps open_clip from logging what this module says itself, in its own words.

    open_clip logs a failed download on the root logger and then raises it; the raised error
    becomes this module's one-line :class:`ModelLoadError`, so the log line would only repeat
    it. Its "No pretrained weights loaded" warning repeats :func:`load_open_clip`'s own ("has
    no pretrained weights: results will be random"), which every command printed twice.
    """
    package = str(Path(open_clip.__file__).parent)

    def keep(record: logging.LogRecord) -> bool:
        if not record.pathname.startswith(package):
            return True
        repeated = record.getMessage().startswith("No pretrained weights loaded")
        return record.levelno < logging.ERROR and not repeated

    logging.root.addFilter(keep)
    try:
        yield
    finally:
        logging.root.removeFilter(keep)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message: library errors can run to pages."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
