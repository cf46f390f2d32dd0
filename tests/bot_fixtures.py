"""Fixtures for the bot's end-to-end tests; load with ``pytest_plugins = ["bot_fixtures"]``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bot_process import write_bot_config
from bot_world import BotWorld, WorldFactory, bot_config

from bot.playground.fake_telegram import FakeTelegram
from indexer.config import ModelConfig
from indexer.model.embedder import Embedder


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def new_world(
    fake: FakeTelegram, tmp_path: Path, model_config: ModelConfig, embedder: Embedder
) -> WorldFactory:
    """Makes a bot (not started) with ``[telegram]`` overrides, for tests that run it themselves.

    Every bot made by one test shares the test's Telegram and data folder.
    """

    def make(**telegram: Any) -> BotWorld:
        return BotWorld(
            fake, bot_config(fake, tmp_path / "data", model_config, **telegram), embedder
        )

    return make


@pytest.fixture
def telegram_settings() -> dict[str, Any]:
    """``[telegram]`` overrides for ``world``; parametrize it to change them."""
    return {}


@pytest.fixture
async def world(
    new_world: WorldFactory, telegram_settings: dict[str, Any]
) -> AsyncIterator[BotWorld]:
    """A running bot in an empty Telegram."""
    bot_world = new_world(**telegram_settings)
    async with bot_world.running():
        yield bot_world


@pytest.fixture
def bot_config_file(
    fake: FakeTelegram, tmp_path: Path, model_config: ModelConfig, tiny_checkpoint: Path
) -> Path:
    """A config file for ``python -m bot`` talking to ``fake`` with the tiny model."""
    return write_bot_config(tmp_path / "config.toml", fake, model_config, tiny_checkpoint)
