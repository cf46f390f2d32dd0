"""Ctrl-C at any moment ends every command quietly: no traceback, exit status 130.

Each command is started with ``-X importtime``, which prints a line as each module finishes
importing: the test interrupts it once a module that only the command itself imports (not the
interpreter's start-up) has been imported, so the signal lands while it is still importing.
A command interrupted while it runs is covered where it runs (the worker in
tests/test_bot_worker.py stops cleanly with status 0, as README says).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.config import ModelConfig

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("command", "imported"),
    [
        (["-m", "bot", "--worker"], "telegram"),
        (["-m", "bot"], "pydantic"),
        (["-m", "indexer", "search", "--collection", "demo", "a red circle"], "tqdm"),
    ],
    ids=["bot-worker", "bot", "indexer"],
)
def test_ctrl_c_while_a_command_imports_ends_it_quietly_with_status_130(
    command: list[str], imported: str, tmp_path: Path, model_config: ModelConfig
) -> None:
    # A config that works: had the signal come late, the command would be loading the model.
    config = tmp_path / "config.toml"
    config.write_text(
        f'[model]\narch = "{model_config.arch}"\npretrained = ""\n'
        f'checkpoint = "{model_config.checkpoint}"\n[storage]\ndata_dir = "data"\n'
        "[ocr]\nenabled = false\n"
        '[telegram]\ntoken = "123:unused"\nbase_url = "http://127.0.0.1:9/bot"\n',
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", *command, "--config", str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            module = line.rpartition("|")[2].strip()
            if module == imported or module.startswith(f"{imported}."):
                break
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    errors = "".join(seen) + rest
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors, errors[-3000:]
    assert process.returncode == 130
