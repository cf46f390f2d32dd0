"""A model folder cannot change without changing its identity (issue 17).

The identity stored with every vector is the hash of ``manifest.json``, so every file a loader
could read must be listed there (open_clip globs ``*.safetensors``/``*.bin`` for weights, the
Hugging Face tokenizer reads ``added_tokens.json`` and friends when present), and a manifest
that is damaged in any field is refused in one line naming the field, never with a traceback.

Most tests build a small folder of stand-in files in ``tmp_path`` (reading a folder needs no
torch); the attack itself is shown on a real exported folder, through the CLI and the loader.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from indexer.cli.main import main
from indexer.config import ModelConfig
from indexer.errors import ModelLoadError
from indexer.model.embedder import Embedder
from indexer.model.folder import (
    MANIFEST_FILE,
    OPEN_CLIP_CONFIG_FILE,
    WEIGHTS_FILE,
    ModelFolder,
    read_folder,
    write_manifest,
)


def small_folder(tmp_path: Path) -> Path:
    """A folder with stand-ins for an export's files and a manifest written for them."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / OPEN_CLIP_CONFIG_FILE).write_text('{"model_cfg": {"embed_dim": 4}}')
    (folder / WEIGHTS_FILE).write_bytes(b"weights")
    (folder / "tokenizer.json").write_text("{}")
    write_manifest(folder, "tiny-arch", None)
    return folder


def refused(folder: Path, *, verify_hashes: bool = True) -> str:
    """The one-line message :func:`read_folder` refuses ``folder`` with."""
    with pytest.raises(ModelLoadError) as caught:
        read_folder(folder, verify_hashes=verify_hashes)
    message = str(caught.value)
    assert "\n" not in message and message.strip() == message
    return message


def edit_manifest(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrites the manifest after ``change`` edits its parsed content."""
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    change(manifest)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))


def test_a_written_folder_reads_back(tmp_path: Path) -> None:
    folder = read_folder(small_folder(tmp_path))
    assert {f.name for f in folder.files} == {OPEN_CLIP_CONFIG_FILE, WEIGHTS_FILE, "tokenizer.json"}


# --- files the manifest does not list -------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        "added_tokens.json",
        "special_tokens_map.json",
        "sentencepiece.bpe.model",
        "open_clip_pytorch_model.bin",
        "other.safetensors",
        "additional_chat_templates/x.jinja",
        ".DS_Store",
        "._tokenizer.json",
    ],
)
def test_a_file_the_manifest_does_not_list_is_refused_naming_it(tmp_path: Path, extra: str) -> None:
    folder = small_folder(tmp_path)
    (folder / extra).parent.mkdir(exist_ok=True)
    (folder / extra).write_text('{"zebra": 5}')
    for verify_hashes in (True, False):
        message = refused(folder, verify_hashes=verify_hashes)
        assert extra in message and "not listed" in message
        assert "remove it" in message and "model export" in message


def test_a_link_the_manifest_does_not_list_is_refused_even_when_dangling(tmp_path: Path) -> None:
    folder = small_folder(tmp_path)
    (folder / "added_tokens.json").symlink_to(tmp_path / "nowhere.json")
    assert "added_tokens.json" in refused(folder)
    (folder / "added_tokens.json").unlink()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "vocab.json").write_text("{}")
    (folder / "linked").symlink_to(target, target_is_directory=True)
    assert "linked" in refused(folder)


def test_an_empty_folder_inside_is_tolerated_as_it_holds_nothing_to_read(tmp_path: Path) -> None:
    folder = small_folder(tmp_path)
    (folder / "empty" / "empty too").mkdir(parents=True)
    assert read_folder(folder).arch == "tiny-arch"


@pytest.fixture
def attacked_folder(tiny_xlmr_folder: ModelFolder, tmp_path: Path) -> Path:
    """A copy of an exported folder with an ``added_tokens.json`` that retokenises a word."""
    folder = tmp_path / "xlmr"
    shutil.copytree(tiny_xlmr_folder.path, folder)
    (folder / "added_tokens.json").write_text(json.dumps({"zebra": 5000}))
    return folder


def test_added_tokens_in_an_exported_folder_stop_the_loader(attacked_folder: Path) -> None:
    with pytest.raises(ModelLoadError) as caught:
        Embedder.load(ModelConfig(path=attacked_folder))
    assert "added_tokens.json" in str(caught.value) and "\n" not in str(caught.value)


def test_added_tokens_in_an_exported_folder_stop_model_check_in_one_line(
    attacked_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["model", "check", str(attacked_folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error:") and "added_tokens.json" in err


# --- damaged manifests ----------------------------------------------------------------------

#: (raw manifest text, the words the refusal must hold)
RAW_MANIFESTS = [
    ("not json at all", "not JSON"),
    (b"\xff\xfe\x00garbage".decode("latin-1"), "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('"text"', "not a JSON object"),
    ("[" * 100_000, "not JSON"),
    ('{"format": 1e999, "arch": "a", "pretrained": null, "files": []}', "format"),
    ('{"format": NaN, "arch": "a", "pretrained": null, "files": []}', "format"),
    ('{"format": 1' + "0" * 5000 + ', "arch": "a", "files": []}', "not JSON"),
]


@pytest.mark.parametrize(("raw", "words"), RAW_MANIFESTS)
def test_a_manifest_that_is_not_a_json_object_is_refused_in_one_line(
    tmp_path: Path, raw: str, words: str
) -> None:
    folder = small_folder(tmp_path)
    (folder / MANIFEST_FILE).write_text(raw, encoding="latin-1")
    message = refused(folder)
    assert words in message and MANIFEST_FILE in message


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        manifest[key] = value

    return change


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        del manifest[key]

    return change


def _set_entry(field: str, value: Any, index: int = 0) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        manifest["files"][index][field] = value

    return change


def _drop_entry(field: str) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        del manifest["files"][0][field]

    return change


def _duplicate_entry(manifest: dict[str, Any]) -> None:
    manifest["files"].append(dict(manifest["files"][0]))


def _unlist(name: str) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        manifest["files"] = [f for f in manifest["files"] if f["name"] != name]

    return change


#: (what is changed, the field the refusal must name)
BAD_FIELDS = [
    (_drop("format"), "format"),
    (_set("format", 0), "format"),
    (_set("format", -1), "format"),
    (_set("format", 1.0), "format"),
    (_set("format", True), "format"),
    (_set("format", "1"), "format"),
    (_set("format", 10**30), "format"),
    (_drop("arch"), "arch"),
    (_set("arch", ""), "arch"),
    (_set("arch", 5), "arch"),
    (_set("arch", None), "arch"),
    (_set("arch", "a\nb"), "arch"),
    (_set("pretrained", 5), "pretrained"),
    (_set("pretrained", ["x"]), "pretrained"),
    (_drop("files"), "files"),
    (_set("files", {}), "files"),
    (_set("files", "x"), "files"),
    (_set("files", [5]), "files[0]"),
    (_set_entry("size", -1), "files[0].size"),
    (_set_entry("size", 1.5), "files[0].size"),
    (_set_entry("size", 7.0), "files[0].size"),
    (_set_entry("size", True), "files[0].size"),
    (_set_entry("size", "7"), "files[0].size"),
    (_set_entry("size", None), "files[0].size"),
    (_set_entry("size", 10**30), "files[0].size"),
    (_set_entry("size", float("inf")), "files[0].size"),
    (_set_entry("size", float("nan")), "files[0].size"),
    (_set_entry("size", -1, index=2), "files[2].size"),
    (_drop_entry("size"), "files[0].size"),
    (_set_entry("sha256", 5), "files[0].sha256"),
    (_set_entry("sha256", "abc"), "files[0].sha256"),
    (_set_entry("sha256", "A" * 64), "files[0].sha256"),
    (_set_entry("sha256", "g" * 64), "files[0].sha256"),
    (_drop_entry("sha256"), "files[0].sha256"),
    (_set_entry("name", 5), "files[0].name"),
    (_set_entry("name", ""), "files[0].name"),
    (_set_entry("name", "/etc/passwd"), "files[0].name"),
    (_set_entry("name", "../outside"), "files[0].name"),
    (_set_entry("name", "a/../config.json"), "files[0].name"),
    (_set_entry("name", "./open_clip_config.json"), "files[0].name"),
    (_set_entry("name", "a//b"), "files[0].name"),
    (_set_entry("name", "a\x00b"), "files[0].name"),
    (_set_entry("name", "a\nb"), "files[0].name"),
    (_set_entry("name", "a\\b"), "files[0].name"),
    (_set_entry("name", MANIFEST_FILE), "files[0].name"),
    (_drop_entry("name"), "files[0].name"),
    (_duplicate_entry, "files[3].name"),
    (_unlist(OPEN_CLIP_CONFIG_FILE), OPEN_CLIP_CONFIG_FILE),
    (_unlist(WEIGHTS_FILE), WEIGHTS_FILE),
]


@pytest.mark.parametrize(("change", "field"), BAD_FIELDS)
def test_every_manifest_field_is_checked_and_named_in_one_line(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], field: str
) -> None:
    folder = small_folder(tmp_path)
    edit_manifest(folder, change)
    for verify_hashes in (True, False):
        message = refused(folder, verify_hashes=verify_hashes)
        assert field in message and MANIFEST_FILE in message, message


def test_a_newer_format_asks_for_an_upgrade(tmp_path: Path) -> None:
    folder = small_folder(tmp_path)
    edit_manifest(folder, _set("format", 2))
    assert "upgrade" in refused(folder)


def test_unknown_keys_are_tolerated_for_later_versions_of_format_1(tmp_path: Path) -> None:
    folder = small_folder(tmp_path)
    edit_manifest(folder, _set("exported_by", "a later version"))
    edit_manifest(folder, _set_entry("mode", "0644"))
    assert read_folder(folder).arch == "tiny-arch"


def test_a_huge_manifest_is_refused_before_it_is_read(tmp_path: Path) -> None:
    folder = small_folder(tmp_path)
    (folder / MANIFEST_FILE).write_text(" " * (2 << 20) + "{}")
    assert "too large" in refused(folder)


def test_a_damaged_manifest_stops_model_check_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    folder = small_folder(tmp_path)
    raw = (folder / MANIFEST_FILE).read_text()
    (folder / MANIFEST_FILE).write_text(raw.replace('"size": 7', '"size": 1e999', 1))
    monkeypatch.chdir(tmp_path)
    assert main(["model", "check", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error:") and ".size" in err


def test_a_file_that_cannot_be_read_is_one_line_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(path: Path) -> str:
        raise PermissionError(13, "Permission denied", str(path))

    folder = small_folder(tmp_path)
    monkeypatch.setattr("indexer.model.folder.file_sha256", unreadable)
    assert "Permission denied" in refused(folder)
