"""``python -m indexer model export|check``: model folders for machines without network.

``export`` runs where the model hub is reachable and writes the configured model as a folder
(indexer/model/folder.py); ``check`` runs where the folder will be used and proves it complete
and working before the bot depends on it: every file present and unchanged, the model loads
offline, embeds a text in each language and a picture, and its calibrated thresholds.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from indexer.config import IndexerConfig, ModelConfig
from indexer.errors import IndexerError
from indexer.model.folder import ModelFolder, read_folder, write_manifest

#: The texts ``check`` embeds: one per language the default model is chosen for.
CHECK_TEXTS = ("a dog playing on the beach", "一只狗在沙滩上玩耍")


@dataclass(frozen=True)
class ModelOptions:
    """``model export --out OUT`` or ``model check [FOLDER]``."""

    action: Literal["export", "check"]
    out: Path | None = None
    folder: Path | None = None


def model_command(options: ModelOptions, config: IndexerConfig) -> int:
    """Runs ``model export`` or ``model check``; errors are :class:`IndexerError`."""
    if options.action == "export":
        assert options.out is not None
        folder = export_model(config.model, options.out)
        print(f"wrote {folder.path}: {len(folder.files)} files, identity {folder.identity}")
        print(
            f"copy the folder to the machine without network and set model.path there, e.g. "
            f'model.path = "{options.out}" (relative to the config file)'
        )
        return 0
    path = options.folder or config.model.path
    if path is None:
        raise IndexerError("model check needs a FOLDER, or model.path in the config")
    if options.folder is not None and not options.folder.is_dir():
        raise IndexerError(f"model check: not a folder: {options.folder}")
    check_folder(path, config.model)
    return 0


def export_model(config: ModelConfig, out: Path) -> ModelFolder:
    """Loads the configured model (downloading it if needed) and writes it as a folder."""
    from indexer.model.loading import load_open_clip

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise IndexerError(f"--out {out} exists and is not an empty folder")
    source = read_folder(config.path) if config.path is not None else None
    loaded = load_open_clip(config.model_copy(update={"precision": "fp32", "device": "cpu"}))
    if source is not None:
        arch, pretrained = source.arch, source.pretrained
        model_cfg = source.open_clip_config()["model_cfg"]
    else:
        import open_clip

        arch, pretrained = config.arch, config.pretrained
        model_cfg = open_clip.get_model_config(arch)
    return write_model_folder(loaded.model, loaded.tokenizer, model_cfg, arch, pretrained, out)


def write_model_folder(
    model: Any,
    tokenizer: Any,
    model_cfg: dict[str, Any],
    arch: str,
    pretrained: str | None,
    out: Path,
) -> ModelFolder:
    """Writes ``model`` in open_clip's ``local-dir:`` layout with a manifest, all or nothing.

    open_clip's own ``save_for_hf`` writes the weights (safetensors), the tokenizer files and
    ``open_clip_config.json``; a Hugging Face text tower also needs its model config. The
    folder is built under a temporary name and renamed at the end, so a half-written export
    never looks like a folder.
    """
    from open_clip.push_to_hf_hub import save_for_hf

    partial = out.parent / f".{out.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    saved_tokenizer = tokenizer if hasattr(tokenizer, "save_pretrained") else _BuiltInTokenizer()
    save_for_hf(model, saved_tokenizer, model_cfg, partial, safe_serialization=True)
    if "hf_model_name" in model_cfg.get("text_cfg", {}):
        model.text.config.save_pretrained(partial)
    write_manifest(partial, arch, pretrained)
    if out.exists():
        out.rmdir()
    os.replace(partial, out)
    return read_folder(out, verify_hashes=False)


class _BuiltInTokenizer:
    """open_clip's own tokenizer ships with open_clip: a folder needs no files for it."""

    def save_pretrained(self, _folder: Path) -> None:
        return None


def check_folder(path: Path, config: ModelConfig) -> None:
    """Verifies, loads and tries the folder at ``path``, printing what it finds."""
    folder = read_folder(path)  # before importing torch: a damaged folder is refused at once
    from indexer.model.calibration import calibration_pictures
    from indexer.model.embedder import Embedder
    from indexer.model.loading import load_open_clip
    from indexer.model.onnx_text import open_text_encoder

    size = sum(entry.size for entry in folder.files)
    print(f"folder     {folder.path}")
    print(f"files      {len(folder.files)} present, {size / 1e6:.1f} MB, sha256 as in the manifest")
    print(f"model      {folder.arch} ({folder.pretrained or 'no pretrained tag'})")
    print(f"identity   {folder.identity}")
    here = config.model_copy(update={"path": folder.path})
    loaded = load_open_clip(here)
    text_encoder = open_text_encoder(loaded, folder.identity, here)
    embedder = Embedder(loaded, folder.identity, here, text_encoder)
    texts = embedder.encode_texts(list(CHECK_TEXTS))
    picture = embedder.encode_images(calibration_pictures()[:1])
    print(f"dimension  {embedder.dim}")
    print(
        "texts      torch"
        if text_encoder is None
        else f"texts      ONNX Runtime int8 ({text_encoder.file})"
    )
    print(
        f"embedded   {len(texts)} texts (English, Chinese) and 1 picture; "
        f"text↔picture cosines {', '.join(f'{float(v):.3f}' for v in texts @ picture[0])}"
    )
    print(f"thresholds {embedder.calibration.describe()}")
    print("ok")
