"""Faults found by the outside attack on words in pictures, clips and the int8 text tower: what
an unlucky operator meets (a kill -9 at the wrong moment, a damaged cache file), each with the
real part that met it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer.config import ModelConfig
from indexer.model import onnx_text
from indexer.model.embedder import Embedder

REPO = Path(__file__).resolve().parent.parent

#: A process that starts the real recogniser, pauses it mid-way (as reading does when pictures
#: arrive to be embedded), prints the child's id and waits to be killed.
_PAUSED_READER = """
import asyncio
from indexer.config import LimitsConfig, OcrConfig
from indexer.ocr.recogniser import Recogniser

async def main():
    recogniser = Recogniser(OcrConfig(), LimitsConfig())
    await recogniser.start()
    recogniser.pause()
    print(recogniser.pid, flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_paused_recogniser_does_not_outlive_its_killed_parent() -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    parent = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_READER],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "a stopped recogniser of ~130 MB was left behind"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_a_damaged_cached_text_tower_is_exported_again(
    model_config: ModelConfig, tmp_path: Path
) -> None:
    config = model_config.model_copy(update={"text_runtime": "onnx-int8", "cache_dir": tmp_path})
    first = Embedder.load(config)
    [cached] = (tmp_path / "text-onnx").glob("*.onnx")
    reference = first.encode_texts(["a red circle"])
    cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])
    again = Embedder.load(config)
    assert again.text_runtime == "onnx-int8"
    assert float((again.encode_texts(["a red circle"]) * reference).sum()) >= 0.999
    assert onnx_text.text_session(cached) is not None
