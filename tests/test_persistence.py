"""SQLite is the source of truth: indexes survive restarts, and FAISS files are rebuilt from it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from indexer.config import IndexerConfig
from indexer.model.embedder import Embedder
from indexer.service import IndexService
from indexer.synthetic import ShapeSpec
from tests.helpers import index_pictures

QUERIES = ["a red circle", "一个蓝色的正方形", "a green star", "一个橙色的十字形"]


class CountingEmbedder:
    """Wraps the real embedder and counts picture encodings, to prove none happen."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.pictures_encoded = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def encode_pixels(self, pixels: list[object]) -> np.ndarray:
        self.pictures_encoded += len(pixels)
        return self._inner.encode_pixels(pixels)  # type: ignore[arg-type]


async def results(service: IndexService) -> list[list[tuple[int, float]]]:
    answers = []
    for query in QUERIES:
        hits = await service.search_text(["shapes"], query, k=10)
        answers.append([(hit.image.id, round(hit.score, 5)) for hit in hits])
    return answers


@pytest.fixture
async def indexed_before(
    indexer_config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> list[list[tuple[int, float]]]:
    async with await IndexService.open(indexer_config, embedder) as service:
        await index_pictures(service, "shapes", held_out_pictures[:120])
        return await results(service)


def faiss_files(config: IndexerConfig) -> list[Path]:
    return sorted((config.storage.data_dir / "faiss").glob("collection-*.faiss"))


async def test_close_and_reopen_gives_identical_results(
    indexer_config: IndexerConfig, embedder: Embedder, indexed_before: list
) -> None:
    counting = CountingEmbedder(embedder)
    async with await IndexService.open(indexer_config, counting) as service:  # type: ignore[arg-type]
        assert await results(service) == indexed_before
    assert counting.pictures_encoded == 0


@pytest.mark.parametrize("damage", ["delete", "corrupt", "truncate"])
async def test_damaged_faiss_file_is_rebuilt_from_sqlite_without_reembedding(
    indexer_config: IndexerConfig,
    embedder: Embedder,
    indexed_before: list,
    damage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    [path] = faiss_files(indexer_config)
    if damage == "delete":
        path.unlink()
    elif damage == "corrupt":
        path.write_bytes(b"\x00garbage" * 100)
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    counting = CountingEmbedder(embedder)
    with caplog.at_level(logging.INFO, logger="indexer"):
        async with await IndexService.open(indexer_config, counting) as service:  # type: ignore[arg-type]
            assert await results(service) == indexed_before
    assert counting.pictures_encoded == 0
    assert "rebuilt from 120 stored vectors" in caplog.text
    assert faiss_files(indexer_config) == [path]


async def test_stale_faiss_file_is_caught_up_from_sqlite(
    indexer_config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
    indexed_before: list,
    caplog: pytest.LogCaptureFixture,
) -> None:
    [path] = faiss_files(indexer_config)
    stale = path.read_bytes()
    async with await IndexService.open(indexer_config, embedder) as service:
        await index_pictures(service, "shapes", held_out_pictures[120:150], prefix="later")
        expected = await results(service)
    path.write_bytes(stale)  # as if the process died before saving the index
    with caplog.at_level(logging.INFO, logger="indexer"):
        async with await IndexService.open(indexer_config, embedder) as service:
            assert await results(service) == expected
            assert (await service.stats("shapes")).index_vectors == 150
    assert "added 30 and removed 0 ids" in caplog.text
