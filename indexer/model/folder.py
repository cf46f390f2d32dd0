"""Model folders: a CLIP model as plain files, for machines without network access.

A folder is written by ``python -m indexer model export`` on a machine that can reach the model
hub, copied to the air-gapped one and named by ``model.path``. It has open_clip's ``local-dir:``
layout (``open_clip_config.json``, the weights ``open_clip_model.safetensors`` and, for Hugging
Face text towers such as XLM-RoBERTa, the text model's ``config.json`` and tokenizer files) plus
``manifest.json``, which lists every file with its size and sha256.

The manifest makes a folder checkable and gives it an identity: the model identity stored with
every vector is the hash of the manifest, so the same folder copied or moved elsewhere keeps its
vectors, and a changed file is refused instead of silently giving other vectors. That holds only
if the manifest covers everything a loader could read: open_clip globs the folder for weights
(``*.safetensors``, ``*.bin``) and the Hugging Face tokenizer reads ``added_tokens.json``,
``special_tokens_map.json`` and more whenever they are present. So the rule is exact: the folder,
searched recursively, holds the manifest and the files it lists, nothing else (empty folders
inside hold nothing to read and are let be). No junk is tolerated by name, not even
``.DS_Store``: one line naming the file says what to do, and a list of harmless names would be
one more thing to keep right as loaders learn to read new files.

Every field of the manifest is checked for type and range, so a damaged or hand-edited manifest
is refused in one line naming the field instead of a traceback from deep inside the loader.

This module reads and verifies folders without importing torch, so a wrong ``model.path`` is
reported at once; loading and writing (which need torch and open_clip) import them when called.

Length (a little over ~350 lines, on purpose): the manifest's rule and the check of every
field of it stay in one file, so what a folder may hold is decided in one place.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.errors import ModelLoadError
from indexer.invocation import indexer_command

MANIFEST_FILE = "manifest.json"
OPEN_CLIP_CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
#: Bumped when the layout changes in a way older code could not read.
MANIFEST_FORMAT = 1
#: The files every folder has: without them open_clip has no config, or globs for weights.
REQUIRED_FILES = (OPEN_CLIP_CONFIG_FILE, WEIGHTS_FILE)
#: A manifest lists a handful of files; one larger than this is not one that export wrote.
MAX_MANIFEST_BYTES = 1 << 20
#: The largest size (and format) a manifest may give: what a file's size can be.
MAX_WHOLE_NUMBER = 2**63 - 1


def export_hint() -> str:
    """How to write a model folder, as a command the user can paste."""
    return f"`{indexer_command()} model export --out DIR`"


_HEX = frozenset("0123456789abcdef")


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
    per GB), which loading does so that a damaged or swapped file is never used. A file that
    cannot be read (permissions) is one error line too, not a traceback.
    """
    if not path.is_dir():
        raise ModelLoadError(f"model.path is not a folder: {path}")
    try:
        return _read_folder(path, verify_hashes)
    except OSError as exc:
        raise ModelLoadError(f"cannot read the model folder {path}: {exc}") from None


def _read_folder(path: Path, verify_hashes: bool) -> ModelFolder:
    """:func:`read_folder` once ``path`` is known to be a folder."""
    manifest, raw = _read_manifest(path / MANIFEST_FILE)
    _refuse_unlisted(path, manifest.files)
    for entry in manifest.files:
        _check_file(path, entry, verify_hashes)
    return ModelFolder(
        path=path.resolve(),
        arch=manifest.arch,
        pretrained=manifest.pretrained,
        files=manifest.files,
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
    )


@dataclass(frozen=True)
class _Manifest:
    """The checked fields of a format-1 ``manifest.json``."""

    arch: str
    pretrained: str | None
    files: tuple[FolderFile, ...]


class _Damaged(Exception):
    """A manifest field that is missing or wrong; the message names the field."""


def _read_manifest(manifest_path: Path) -> tuple[_Manifest, bytes]:
    """The checked manifest and its bytes (their hash is the identity), or one error line.

    The format is checked first: a newer manifest may hold fields this code does not know, so
    it asks for an upgrade instead of calling them damaged.
    """
    raw = _manifest_bytes(manifest_path)
    try:
        content = _json_object(raw)
        form = _whole_number(_field(content, "format"), "format", low=1)
        if form > MANIFEST_FORMAT:
            raise ModelLoadError(
                f"{manifest_path} has format {form}; this code reads up to {MANIFEST_FORMAT}: "
                "upgrade clip-search-bot"
            )
        return _format_1(content), raw
    except _Damaged as exc:
        raise ModelLoadError(
            f"{manifest_path} is damaged: {exc}; re-export the folder with {export_hint()}"
        ) from None


def _manifest_bytes(manifest_path: Path) -> bytes:
    """The manifest's bytes, refused before reading when it is missing or implausibly large."""
    if not manifest_path.is_file():
        raise ModelLoadError(
            f"{manifest_path} is missing: not a model folder; write one with {export_hint()}"
        )
    size = manifest_path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise ModelLoadError(
            f"{manifest_path} is too large ({size} bytes, at most {MAX_MANIFEST_BYTES}): "
            f"not a manifest that export writes; re-export the folder with {export_hint()}"
        )
    return manifest_path.read_bytes()


def _json_object(raw: bytes) -> dict[str, Any]:
    """The manifest parsed; deep nesting (RecursionError) counts as damage like bad syntax."""
    try:
        content = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _Damaged(f"not JSON ({_clipped(str(exc), 80)})") from None
    if not isinstance(content, dict):
        raise _Damaged(f"not a JSON object but {_shown(content)}")
    return content


def _format_1(content: dict[str, Any]) -> _Manifest:
    """The fields of a format-1 manifest; keys it does not know are let be (later additions)."""
    pretrained = content.get("pretrained")
    return _Manifest(
        arch=_text(_field(content, "arch"), "arch"),
        pretrained=None if pretrained is None else _text(pretrained, "pretrained"),
        files=_files(_field(content, "files")),
    )


def _files(value: Any) -> tuple[FolderFile, ...]:
    """The ``files`` list: well-formed entries, each name once, the required files among them."""
    if not isinstance(value, list):
        raise _Damaged(f"files must be a list, not {_shown(value)}")
    files: list[FolderFile] = []
    for index, entry in enumerate(value):
        where = f"files[{index}]"
        if not isinstance(entry, dict):
            raise _Damaged(f"{where} must be an object with name, size and sha256")
        name = _file_name(_field(entry, "name", where), f"{where}.name")
        if name in {f.name for f in files}:
            raise _Damaged(f"{where}.name lists {name} a second time")
        size = _whole_number(_field(entry, "size", where), f"{where}.size")
        files.append(FolderFile(name, size, _sha256(_field(entry, "sha256", where), where)))
    for required in REQUIRED_FILES:
        if required not in {f.name for f in files}:
            raise _Damaged(f"files does not list {required}, which every model folder has")
    return tuple(files)


def _field(content: dict[str, Any], key: str, within: str = "") -> Any:
    """``content[key]``, or damage naming the field by its path in the manifest."""
    if key not in content:
        raise _Damaged(f"{within}.{key} is missing" if within else f"{key} is missing")
    return content[key]


def _whole_number(value: Any, where: str, low: int = 0) -> int:
    """A JSON integer from ``low`` to :data:`MAX_WHOLE_NUMBER` (2**63-1, a file size's limit).

    ``bool`` is an ``int`` to Python and ``7.0`` or ``1e999`` would pass ``int()``; neither is
    a byte count export writes, so only a plain ``int`` is taken.
    """
    if type(value) is not int or not low <= value <= MAX_WHOLE_NUMBER:
        raise _Damaged(f"{where} must be a whole number from {low} to 2**63-1, not {_shown(value)}")
    return value


def _text(value: Any, where: str) -> str:
    """A non-empty, printable, one-line string: it ends up in error lines and identities."""
    if not isinstance(value, str) or not value or not value.isprintable():
        raise _Damaged(f"{where} must be a non-empty line of text, not {_shown(value)}")
    return value


def _file_name(value: Any, where: str) -> str:
    """A file's path inside the folder, spelt as export spells it (``/``, nothing to resolve).

    One spelling per file is what lets the folder's contents be compared with the list.
    """
    name = _text(value, where)
    parts = name.split("/")
    if "\\" in name or any(part in ("", ".", "..") for part in parts):
        raise _Damaged(f"{where} must be a path inside the folder, not {_shown(name)}")
    if name == MANIFEST_FILE:
        raise _Damaged(f"{where} names the manifest itself")
    return name


def _sha256(value: Any, where: str) -> str:
    """64 lowercase hex digits, as :func:`file_sha256` writes them."""
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise _Damaged(f"{where}.sha256 must be 64 lowercase hex digits, not {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    """A manifest value as JSON, cut short: a message stays one readable line."""
    return _clipped(json.dumps(value, ensure_ascii=False), 40)


def _clipped(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _refuse_unlisted(folder: Path, files: tuple[FolderFile, ...]) -> None:
    """Refuses any file the manifest does not list: a loader could read it unseen.

    An ``added_tokens.json`` dropped into the folder changes how texts are tokenised while the
    manifest, and so the identity stored with every vector, stays the same.
    """
    listed = {entry.name for entry in files} | {MANIFEST_FILE}
    for name in folder_entries(folder):
        if name not in listed:
            raise ModelLoadError(
                f"model folder file not listed in its manifest: {folder / name} could change "
                f"the model unseen; remove it, or re-export the folder with {export_hint()}"
            )


def folder_entries(folder: Path) -> list[str]:
    """Every entry of ``folder`` but directories, recursively, as sorted ``/`` paths.

    Links are never followed and count as entries like files: a dangling link can be filled
    in later, and a link to a folder elsewhere would bring that folder's files in unlisted.
    """
    found: list[str] = []
    pending = [folder]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                else:
                    found.append(Path(entry.path).relative_to(folder).as_posix())
    return sorted(found)


def _check_file(folder: Path, entry: FolderFile, verify_hash: bool) -> None:
    """Raises a one-line :class:`ModelLoadError` if ``entry`` is missing or not as recorded."""
    file = folder / entry.name
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
    """Records every file of ``folder`` (but the manifest) in a new ``manifest.json``.

    The files are found as :func:`read_folder` finds them, so a folder just written reads back.
    """
    names = [name for name in folder_entries(folder) if name != MANIFEST_FILE]
    manifest = {
        "format": MANIFEST_FORMAT,
        "arch": arch,
        "pretrained": pretrained,
        "files": [
            {
                "name": name,
                "size": (folder / name).stat().st_size,
                "sha256": file_sha256(folder / name),
            }
            for name in names
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
