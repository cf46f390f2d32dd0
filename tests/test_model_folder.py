"""The default multilingual model's path works offline: model folders, export/check, fail fast.

No real weights can be downloaded here, so the tests build XLM-R-shaped models themselves
(tests/tiny_xlmr.py) and run the real code: loading by ``model.path`` with the hub address
pointing at a listening socket that counts every connection, the CLI, and the full-size
default architecture built from a folder of text-model config and tokenizer files only.
"""

from __future__ import annotations

import copy
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from indexer.cli.model import export_model
from indexer.config import IndexerConfig, ModelConfig
from indexer.errors import IndexerError, ModelLoadError
from indexer.model.calibration import calibration_pictures, method_id, phrases
from indexer.model.embedder import Embedder
from indexer.model.folder import WEIGHTS_FILE, ModelFolder, read_folder
from indexer.model.loading import LoadedModel
from indexer.model.text_trim import encode_hf_text_trimmed, hf_pad_token_id, text_encoder_for
from indexer.records import Calibration, ImageFacts
from indexer.service import IndexService
from indexer.store import Store
from indexer.synthetic import ALL_SPECS, make_dataset
from tests.conftest import jpeg_bytes
from tests.tiny_xlmr import build_text_source, create_random, register_arch

REPO = Path(__file__).resolve().parents[1]
#: Texts of very different lengths and both languages, so most rows are padded.
TEXTS = ["a red circle", "一个蓝色的正方形", "cat", "a small green triangle on a white table", ""]


class ConnectionCounter:
    """A TCP listener on 127.0.0.1 that accepts and counts connections, answering nothing."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.count = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.count += 1
            connection.close()

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def hub_counter() -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter()
    yield counter
    counter.close()


def closed_port() -> int:
    """A local port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "indexer", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def offline_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    """The hub at ``endpoint`` and an empty Hugging Face cache, HF_HUB_OFFLINE not set."""
    return {"HF_ENDPOINT": endpoint, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": ""}


def test_model_folder_is_indexed_searched_and_checked_without_touching_the_network(
    tiny_xlmr_folder: ModelFolder, hub_counter: ConnectionCounter, tmp_path: Path
) -> None:
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for n, (image, _) in enumerate(make_dataset(12, seed=7)):
        (pictures / f"{n:02d}.jpg").write_bytes(jpeg_bytes(image))
    folder = tmp_path / "models" / "xlmr"
    shutil.copytree(tiny_xlmr_folder.path, folder)
    (tmp_path / "config.toml").write_text('[model]\npath = "models/xlmr"\n')
    env = offline_env(tmp_path, f"http://127.0.0.1:{hub_counter.port}")

    index = run_cli("index", str(pictures), "--collection", "c", env=env, cwd=tmp_path)
    assert index.returncode == 0, index.stderr
    assert "12 indexed" in index.stdout
    search = run_cli(
        "search", "一个红色的圆形", "--collection", "c", "-k", "3", env=env, cwd=tmp_path
    )
    assert search.returncode == 0, search.stderr
    assert search.stdout.count(".jpg") == 3
    stats = run_cli("stats", env=env, cwd=tmp_path)
    assert f"model {tiny_xlmr_folder.identity}" in stats.stdout
    assert "thresholds text match ≥" in stats.stdout and "(calibrated)" in stats.stdout
    check = run_cli("model", "check", env=env, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert f"identity   {tiny_xlmr_folder.identity}" in check.stdout
    assert "dimension  32" in check.stdout
    assert "text↔text ≥" in check.stdout
    assert check.stdout.rstrip().endswith("ok")
    assert hub_counter.count == 0


def test_moving_the_folder_keeps_its_identity_and_vectors(
    tiny_xlmr_folder: ModelFolder, tiny_xlmr_embedder: Embedder, tmp_path: Path
) -> None:
    moved = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(tiny_xlmr_folder.path, moved)
    embedder = Embedder.load(ModelConfig(path=moved))
    assert embedder.identity == tiny_xlmr_embedder.identity == tiny_xlmr_folder.identity
    np.testing.assert_allclose(
        embedder.encode_texts(TEXTS), tiny_xlmr_embedder.encode_texts(TEXTS), atol=1e-6
    )


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_a_folder_with_a_missing_or_altered_file_is_refused_naming_it(
    tiny_xlmr_folder: ModelFolder, tmp_path: Path, damage: str
) -> None:
    folder = tmp_path / "xlmr"
    shutil.copytree(tiny_xlmr_folder.path, folder)
    victim = folder / ("tokenizer.json" if damage == "missing" else "open_clip_model.safetensors")
    if damage == "missing":
        victim.unlink()
    else:
        data = bytearray(victim.read_bytes())
        data[-1] ^= 0xFF  # same size, other content
        victim.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=victim.name) as caught:
        Embedder.load(ModelConfig(path=folder))
    assert damage in str(caught.value) and "\n" not in str(caught.value)
    check = run_cli("model", "check", str(folder), env={}, cwd=tmp_path)
    assert check.returncode == 2
    assert check.stderr.strip().count("\n") == 0
    assert check.stderr.startswith("error:") and victim.name in check.stderr


async def test_service_on_a_model_folder_finds_chinese_and_english_and_stores_its_calibration(
    tiny_xlmr_folder: ModelFolder, tiny_xlmr_embedder: Embedder, tmp_path: Path
) -> None:
    config = IndexerConfig.model_validate(
        {"model": {"path": tiny_xlmr_folder.path}, "storage": {"data_dir": tmp_path / "data"}}
    )
    async with await IndexService.open(config, tiny_xlmr_embedder) as service:
        for n, (image, _) in enumerate(make_dataset(6, seed=3)):
            await service.add_image("c", ImageFacts(source=f"upload:{n}"), jpeg_bytes(image))
        await service.wait_idle()
        stats = await service.stats("c")
        assert stats.images == 6 and stats.model == tiny_xlmr_folder.identity
        for query in ("一个红色的圆形", "a red circle"):
            assert len(await service.search_text(["c"], query, k=3)) == 3
        assert stats.thresholds.calibration == tiny_xlmr_embedder.calibration
    stored = await _stored_calibration(tmp_path / "data", tiny_xlmr_folder.identity)
    assert stored == tiny_xlmr_embedder.calibration


async def _stored_calibration(data_dir: Path, model_id: str) -> Calibration | None:
    store = await Store.open_in(data_dir)
    try:
        return await store.calibrations.get(model_id, method_id())
    finally:
        await store.close()


def test_hf_text_padding_trim_gives_the_untrimmed_vectors(tiny_xlmr_embedder: Embedder) -> None:
    model = tiny_xlmr_embedder._model
    assert text_encoder_for(model) is encode_hf_text_trimmed
    tokens = tiny_xlmr_embedder._tokenizer(TEXTS)
    assert (tokens == hf_pad_token_id(model)).all(dim=0).sum() > 40  # mostly padding
    with torch.inference_mode():
        full = model.encode_text(tokens)
        trimmed = encode_hf_text_trimmed(model, tokens)
        alone = encode_hf_text_trimmed(model, tokens[:1])
    torch.testing.assert_close(trimmed, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone, full[:1], atol=1e-5, rtol=1e-5)


def test_default_model_without_network_fails_fast_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    for key, value in offline_env(tmp_path, endpoint).items():
        monkeypatch.setenv(key, value)
    started = time.monotonic()
    with pytest.raises(ModelLoadError) as caught:
        Embedder.load(ModelConfig())
    assert time.monotonic() - started < 10  # a hang guard: it took ~53 s of retries before
    message = str(caught.value)
    assert "xlm-roberta-base-ViT-B-32/laion5b_s13b_b90k" in message and endpoint in message
    assert "model.path" in message and "HF_HUB_OFFLINE" in message
    assert "`clip-search model export --out DIR`" in message  # from pytest: the installed name
    cli = run_cli("stats", env=offline_env(tmp_path, endpoint), cwd=tmp_path)
    assert cli.returncode == 2
    # The same line, its hint naming the command as this run typed it (python -m indexer).
    as_typed = message.replace("`clip-search ", f"`{sys.executable} -m indexer ")
    assert cli.stderr.strip().splitlines() == [f"error: {as_typed}"]


def test_help_and_input_errors_do_not_import_torch(tmp_path: Path) -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['indexer', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('indexer', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('torch' in sys.modules, file=sys.stderr)\n"
    )
    (tmp_path / "config.toml").write_text('[model]\npath = "no-such-folder"\n')
    for args, expected in (
        (["--help"], ""),
        (["search", "x", "--collection", "nope"], "model.path is not a folder"),
        (["--config", "/dev/null", "search", "x", "--collection", "nope"], "unknown collection"),
        (["--config", "/dev/null", "index", "missing", "--collection", "c"], "not a folder"),
    ):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert expected in done.stderr
        assert done.stderr.strip().endswith("False"), (args, done.stderr)


@pytest.fixture(scope="module")
def full_size(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """xlm-roberta-base-ViT-B-32 with random weights, from XLM-R base's config files only."""
    import open_clip

    work = tmp_path_factory.mktemp("full-size")
    source = build_text_source(work / "xlm-roberta-base")
    default = open_clip.get_model_config("xlm-roberta-base-ViT-B-32")
    arch = register_arch("test-xlm-roberta-base-ViT-B-32", default, source, work / "configs")
    model, preprocess, tokenizer = create_random(arch)
    return LoadedModel(model=model, preprocess=preprocess, tokenizer=tokenizer)


def test_full_size_default_architecture_builds_offline_with_the_published_shapes(
    full_size: LoadedModel,
) -> None:
    model = full_size.model
    assert sum(p.numel() for p in model.parameters()) > 360_000_000
    assert model.text.config.vocab_size == 250002
    embedder = Embedder(full_size, "test", ModelConfig())
    assert embedder.dim == 512 and embedder.input_side == 224
    texts = embedder.encode_texts(TEXTS)
    pictures = embedder.encode_images(calibration_pictures()[:2])
    assert texts.shape == (len(TEXTS), 512) and pictures.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_full_size_padding_trim_and_bf16_keep_the_vectors(full_size: LoadedModel) -> None:
    model = full_size.model
    tokens = full_size.tokenizer(TEXTS)
    with torch.inference_mode():
        full = model.encode_text(tokens)
        trimmed = encode_hf_text_trimmed(model, tokens)
    torch.testing.assert_close(trimmed, full, atol=1e-4, rtol=1e-4)
    fp32 = Embedder(full_size, "test", ModelConfig())
    bf16_model = copy.deepcopy(model).to(torch.bfloat16)
    bf16 = Embedder(
        LoadedModel(bf16_model, full_size.preprocess, full_size.tokenizer),
        "test",
        ModelConfig(precision="bf16"),
    )
    assert {p.dtype for p in bf16_model.parameters()} == {torch.bfloat16}
    pictures = calibration_pictures()[:4]
    for a, b in (
        (fp32.encode_texts(TEXTS), bf16.encode_texts(TEXTS)),
        (fp32.encode_images(pictures), bf16.encode_images(pictures)),
    ):
        assert np.sum(a * b, axis=1).min() >= 0.99


def test_calibration_spec_covers_both_languages() -> None:
    texts = phrases()
    chinese = [t for t in texts if any("\u4e00" <= c <= "\u9fff" for c in t)]
    assert len(texts) >= 300 and 100 <= len(chinese) <= len(texts) - 100
    assert len(set(texts)) == len(texts)
    shape_words = {spec.shape.en for spec in ALL_SPECS} | {spec.colour.en for spec in ALL_SPECS}
    assert not [t for t in texts if set(t.lower().split()) & shape_words]


def test_read_folder_without_manifest_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model export"):
        read_folder(tmp_path)


def test_model_export_writes_a_folder_that_gives_the_same_vectors(
    model_config: ModelConfig, embedder: Embedder, tmp_path: Path
) -> None:
    folder = export_model(model_config, tmp_path / "exported")
    assert {f.name for f in folder.files} == {"open_clip_config.json", WEIGHTS_FILE}
    exported = Embedder.load(ModelConfig(path=folder.path))
    assert exported.identity == folder.identity != embedder.identity
    np.testing.assert_allclose(
        exported.encode_texts(TEXTS), embedder.encode_texts(TEXTS), atol=1e-5
    )
    pictures = calibration_pictures()[:3]
    np.testing.assert_allclose(
        exported.encode_images(pictures), embedder.encode_images(pictures), atol=1e-5
    )
    with pytest.raises(IndexerError, match="not an empty folder"):
        export_model(model_config, folder.path)
