"""Starting the bot when Telegram cannot be reached: one clear line, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from indexer.config import ModelConfig


def test_unreachable_bot_api_is_one_line_and_exit_1(
    tmp_path: Path,
    model_config: ModelConfig,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        '[telegram]\nbase_url = "http://127.0.0.1:9/bot"\n'
        'base_file_url = "http://127.0.0.1:9/file/bot"\n'
    )
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:secret-token-value")
    assert main(["--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the Telegram Bot API at http://127.0.0.1:9/bot" in err
    assert "Traceback" not in err and "secret-token-value" not in err
