"""A vector index that cannot be saved (a full disk) stops nothing and loses nothing.

The fault is made through the file system, as an unlucky operator meets it: the place where a
collection's FAISS file goes is taken by a folder, so every save of it fails with an OSError
(also as root, where a read-only folder would not stop a write).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
from pathlib import Path

import aiosqlite
import pytest

from indexer.config import IndexerConfig, ModelConfig
from indexer.errors import StorageError
from indexer.model.embedder import Embedder
from indexer.records import ImageFacts
from indexer.service import IndexService
from indexer.synthetic import ShapeSpec
from indexer.vectors.faiss_files import FaissFiles

REPO = Path(__file__).resolve().parent.parent
Pictures = list[tuple[bytes, ShapeSpec]]


def block_saving(data_dir: Path, collection_id: int, model_id: str) -> Path:
    """Puts a non-empty folder where the collection's FAISS file would be written."""
    path = FaissFiles(data_dir / "faiss").path(collection_id, model_id)
    (path / "in-the-way").mkdir(parents=True)
    return path


def unblock_saving(path: Path) -> None:
    (path / "in-the-way").rmdir()
    path.rmdir()


async def add(service: IndexService, pictures: Pictures, start: int) -> None:
    for number, (data, _) in enumerate(pictures, start):
        await service.add_image("c", ImageFacts(source=f"upload:{number}"), data=data)


def database_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, aiosqlite.Connection)]


async def test_the_worker_keeps_indexing_while_saves_fail_and_saves_once_they_work(
    indexer_config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: Pictures,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "indexer")
    blocked = block_saving(indexer_config.storage.data_dir, 1, embedder.identity)
    service = await IndexService.open(indexer_config, embedder)
    try:
        await add(service, held_out_pictures[:4], 0)
        await service.wait_idle()
        await add(service, held_out_pictures[4:8], 4)
        await service.wait_idle()
        for _, spec in held_out_pictures[:8]:
            hits = await service.search_text(["c"], spec.caption_en, k=8)
            assert hits, spec
        assert (await service.stats("c")).images == 8
        failures = [r for r in caplog.records if "saving the vector indexes failed" in r.message]
        assert len(failures) == 1
        assert not failures[0].exc_info and str(blocked) in failures[0].message

        unblock_saving(blocked)
        await add(service, held_out_pictures[8:9], 8)
        while not blocked.is_file():
            await asyncio.sleep(0.05)
        assert any("works again" in r.message for r in caplog.records)
        assert (await service.stats("c")).images == 9
    finally:
        await service.close()


async def test_close_closes_the_database_even_when_the_last_save_fails(
    indexer_config: IndexerConfig, embedder: Embedder, held_out_pictures: Pictures
) -> None:
    before = len(database_threads())
    block_saving(indexer_config.storage.data_dir, 1, embedder.identity)
    service = await IndexService.open(indexer_config, embedder)
    await add(service, held_out_pictures[:2], 0)
    await service.wait_idle()
    with pytest.raises(StorageError, match="cannot save the FAISS index"):
        await service.close()
    assert len(database_threads()) == before
    await service.close()


def test_index_command_with_a_failing_save_exits_with_one_error_line(
    tmp_path: Path, model_config: ModelConfig, embedder: Embedder, held_out_pictures: Pictures
) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    for number, (data, _) in enumerate(held_out_pictures[:6]):
        (folder / f"{number}.jpg").write_bytes(data)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n[ocr]\nenabled = false\n'
    )
    blocked = block_saving(tmp_path / "data", 1, embedder.identity)
    command = ["index", str(folder), "--collection", "c"]
    result = subprocess.run(
        [sys.executable, "-m", "indexer", "--config", str(config), *command],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot save the FAISS index") and str(blocked) in last
