"""Output piped into a reader that stops early (``| head -1``) ends the command quietly.

The reader going away makes every later write fail (EPIPE): Python raises BrokenPipeError from
the write, or from the flush as the interpreter exits. Either way the command stops as other
command-line tools do: no traceback, exit status 141 (128 + SIGPIPE, as shells report it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("buffered", [False, True], ids=["unbuffered", "buffered"])
def test_output_into_a_closed_pipe_ends_quietly_with_status_141(
    buffered: bool, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n', encoding="utf-8")
    # Unbuffered, the first print fails; buffered, the flush at exit does.
    environment = {"PYTHONUNBUFFERED": "" if buffered else "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "indexer", "--config", str(config), "check"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the command writes anything

    _, err = process.communicate(timeout=60)

    assert err == ""
    assert process.returncode == 141
