"""A crash in the middle of indexing loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from indexer.cli.index_folder import index_directory
from indexer.config import ModelConfig, load_indexer_config
from indexer.model.embedder import Embedder
from indexer.service import IndexService
from indexer.synthetic import write_image_folder

REPO = Path(__file__).resolve().parent.parent


def write_config(directory: Path, model: ModelConfig) -> Path:
    path = directory / "config.toml"
    path.write_text(
        f'[model]\narch = "{model.arch}"\ncheckpoint = "{model.checkpoint}"\nbatch_size = 16\n'
        f'[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n'
    )
    return path


def count_indexed(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
        try:
            return db.execute("SELECT count(*) FROM images WHERE status = 'indexed'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


async def test_sigkill_during_indexing_loses_and_duplicates_nothing(
    tmp_path: Path, model_config: ModelConfig, embedder: Embedder
) -> None:
    pictures = write_image_folder(tmp_path / "pictures", 400, seed=77)
    config_path = write_config(tmp_path, model_config)
    database = tmp_path / "data" / "index.sqlite3"
    command = [
        sys.executable,
        "-m",
        "indexer",
        "--config",
        str(config_path),
        "index",
        str(tmp_path / "pictures"),
        "--collection",
        "album",
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    deadline = time.monotonic() + 120
    while count_indexed(database) < 32 and process.poll() is None:
        assert time.monotonic() < deadline, "indexing never started"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    indexed_at_kill = count_indexed(database)
    assert 0 < indexed_at_kill < len(pictures), "the kill did not land mid-way"

    config = load_indexer_config(config_path)
    async with await IndexService.open(config, embedder) as service:
        # Acknowledged pictures were queued before the kill and are finished now.
        await service.wait_idle()
        assert await index_directory(service, tmp_path / "pictures", "album") == 0
        stats = await service.stats("album")
        assert stats.images + stats.reposts == len(pictures)
        assert stats.pending == stats.failed == 0
        assert stats.index_vectors == stats.images
        hits = await service.search_text(["album"], "a yellow square", k=5)
        assert sum("yellow_square" in hit.image.source for hit in hits) >= 4

    with sqlite3.connect(database) as db:
        sources = [row[0] for row in db.execute("SELECT source FROM images")]
    assert len(sources) == len(set(sources)) == len(pictures)
