"""Shared fixtures: the tiny model (loaded once per session) and services on temp folders."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from indexer.config import IndexerConfig, ModelConfig
from indexer.model.embedder import Embedder
from indexer.model.folder import ModelFolder
from indexer.service import IndexService
from indexer.synthetic import ShapeSpec, make_dataset
from indexer.training.tiny_model import TINY_MODEL_NAME, ensure_tiny_model
from tests.tiny_xlmr import build_tiny_folder

#: Where a tiny model trained by the tests (when the committed one is stale) is kept.
CACHE_DIR = Path(
    os.environ.get("CLIP_SEARCH_TEST_CACHE", Path.home() / ".cache" / "clip-search-bot")
)
#: Held-out pictures are drawn with seeds far from the ones the tiny model was trained on.
HELD_OUT_SEED = 424_242


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Path:
    return ensure_tiny_model(CACHE_DIR)


@pytest.fixture(scope="session")
def model_config(tiny_checkpoint: Path) -> ModelConfig:
    return ModelConfig(arch=TINY_MODEL_NAME, pretrained=None, checkpoint=tiny_checkpoint)


@pytest.fixture(scope="session")
def embedder(model_config: ModelConfig) -> Embedder:
    return Embedder.load(model_config)


def make_config(data_dir: Path, model: ModelConfig, **sections: dict[str, object]) -> IndexerConfig:
    """An indexer config on ``data_dir`` with the tiny model and optional section overrides.

    Reading the words in pictures is off unless ``ocr`` turns it on: the shapes have none, and
    the recogniser's process would only cost every test a start (tests/test_words_in_pictures.py
    runs it)."""
    return IndexerConfig.model_validate(
        {
            "model": model.model_dump(),
            "storage": {"data_dir": data_dir},
            "ocr": {"enabled": False},
            **sections,
        }
    )


@pytest.fixture
def indexer_config(tmp_path: Path, model_config: ModelConfig) -> IndexerConfig:
    return make_config(tmp_path / "data", model_config)


@pytest.fixture
async def service(indexer_config: IndexerConfig, embedder: Embedder) -> AsyncIterator[IndexService]:
    async with await IndexService.open(indexer_config, embedder) as opened:
        yield opened


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def held_out_pictures() -> list[tuple[bytes, ShapeSpec]]:
    """240 synthetic pictures (8 of each colour × shape) that the tiny model never saw."""
    return [(jpeg_bytes(image), spec) for image, spec in make_dataset(240, HELD_OUT_SEED)]


@pytest.fixture(scope="session")
def tiny_xlmr_folder(tmp_path_factory: pytest.TempPathFactory) -> ModelFolder:
    """A tiny XLM-R CLIP model folder (random weights), as ``model export`` writes one."""
    return build_tiny_folder(tmp_path_factory.mktemp("tiny-xlmr"))


@pytest.fixture(scope="session")
def tiny_xlmr_embedder(tiny_xlmr_folder: ModelFolder) -> Embedder:
    return Embedder.load(ModelConfig(path=tiny_xlmr_folder.path))
