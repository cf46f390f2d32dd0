"""Model folders: a CLIP model as plain files, for machines without network access.

A folder is written by ``python -m indexer model export`` on a machine that can reach the model
hub, copied to the air-gapped one and named by ``model.path``. It has open_clip's ``local-dir:``
layout (``open_clip_config.json``, the weights ``open_clip_model.safetensors`` and, for Hugging
Face text towers such as XLM-RoBERTa, the text model's ``config.json`` and tokenizer files) plus
``manifest.json``, which lists every file with its size and sha256.

The manifest makes a folder checkable and gives it an identity: the model identity stored with
every vector is the hash of the manifest, so the same folder copied or moved elsewhere keeps its
vectors, and a changed file is refused instead of silently giving other vectors.

This module reads and verifies folders without importing torch, so a wrong ``model.path`` is
reported at once; loading and writing (which need torch and open_clip) import them when called.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.errors import ModelLoadError

MANIFEST_FILE = "manifest.json"
OPEN_CLIP_CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
#: Bumped when the layout changes in a way older code could not read.
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class FolderFile:
    """One file of a model folder as the manifest records it."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ModelFolder:
    """A verified model folder: every file of its manifest is present and unchanged."""

    path: Path
    arch: str
    pretrained: str | None
    files: tuple[FolderFile, ...]
    manifest_sha256: str

    @property
    def identity(self) -> str:
        """The model identity of the folder's weights; the folder's location plays no part."""
        return f"{self.arch}@manifest:{self.manifest_sha256[:16]}"

    @property
    def has_hf_text_tower(self) -> bool:
        """Whether the text tower is a Hugging Face model (its config.json is in the folder)."""
        return "hf_model_name" in self.open_clip_config()["model_cfg"].get("text_cfg", {})

    def open_clip_config(self) -> dict[str, Any]:
        """The folder's ``open_clip_config.json`` (``model_cfg`` and ``preprocess_cfg``)."""
        config: dict[str, Any] = json.loads((self.path / OPEN_CLIP_CONFIG_FILE).read_text())
        return config


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so multi-GB checkpoints need no memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_folder(path: Path, *, verify_hashes: bool = True) -> ModelFolder:
    """The model folder at ``path``, or a :class:`ModelLoadError` naming the first bad file.

    Sizes are always compared; ``verify_hashes`` also recomputes every sha256 (about a second
    per GB), which loading does so that a damaged or swapped file is never used.
    """
    if not path.is_dir():
        raise ModelLoadError(f"model.path is not a folder: {path}")
    manifest_path = path / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ModelLoadError(
            f"{manifest_path} is missing: not a model folder; write one with "
            "`python -m indexer model export --out DIR`"
        )
    raw = manifest_path.read_bytes()
    try:
        manifest = json.loads(raw)
        files = tuple(
            FolderFile(f["name"], int(f["size"]), str(f["sha256"])) for f in manifest["files"]
        )
        arch = str(manifest["arch"])
        form = int(manifest["format"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{manifest_path} is damaged: {exc}") from None
    if form > MANIFEST_FORMAT:
        raise ModelLoadError(
            f"{manifest_path} has format {form}; this code reads up to {MANIFEST_FORMAT}: "
            "upgrade clip-search-bot"
        )
    for entry in files:
        _check_file(path, entry, verify_hashes)
    return ModelFolder(
        path=path.resolve(),
        arch=arch,
        pretrained=manifest.get("pretrained"),
        files=files,
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
    )


def _check_file(folder: Path, entry: FolderFile, verify_hash: bool) -> None:
    """Raises a one-line :class:`ModelLoadError` if ``entry`` is missing or not as recorded."""
    file = folder / entry.name
    if Path(entry.name).is_absolute() or ".." in Path(entry.name).parts:
        raise ModelLoadError(
            f"{folder / MANIFEST_FILE} names a file outside the folder: {entry.name}"
        )
    if not file.is_file():
        raise ModelLoadError(f"model folder file missing: {file} (copy the whole exported folder)")
    if file.stat().st_size != entry.size:
        raise ModelLoadError(
            f"model folder file altered: {file} has {file.stat().st_size} bytes, "
            f"the manifest says {entry.size}"
        )
    if verify_hash and file_sha256(file) != entry.sha256:
        raise ModelLoadError(f"model folder file altered: {file} does not match its sha256")


def write_manifest(folder: Path, arch: str, pretrained: str | None) -> ModelFolder:
    """Records every file of ``folder`` (but the manifest) in a new ``manifest.json``."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_FILE)
    manifest = {
        "format": MANIFEST_FORMAT,
        "arch": arch,
        "pretrained": pretrained,
        "files": [
            {
                "name": p.relative_to(folder).as_posix(),
                "size": p.stat().st_size,
                "sha256": file_sha256(p),
            }
            for p in files
        ],
    }
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return read_folder(folder, verify_hashes=False)


def folder_text_cfg(folder: ModelFolder) -> dict[str, Any]:
    """The folder's text config with its Hugging Face names pointing into the folder.

    Exported configs keep the hub names they came from (``xlm-roberta-base``); loading from
    them would ask the hub for the text model's config and tokenizer, so they are replaced by
    the folder's own path, which transformers reads as a local model.
    """
    text_cfg = dict(folder.open_clip_config()["model_cfg"]["text_cfg"])
    if "hf_model_name" in text_cfg:
        text_cfg["hf_model_name"] = str(folder.path)
        text_cfg["hf_tokenizer_name"] = str(folder.path)
        # The folder's weights file holds the whole model, text tower included.
        text_cfg["hf_model_pretrained"] = False
    return text_cfg
