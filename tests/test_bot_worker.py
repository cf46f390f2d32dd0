"""``index.embedding = "worker"``: the bot only queues pictures and hands their bytes over (it
alone holds the Telegram token); a worker process, with no token, embeds them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiosqlite
import pytest
from bot_process import REPO, write_bot_config
from bot_world import BotWorld, Picture, pictures_of, until
from milvus_lite.server_manager import server_manager_instance

from bot.app import working
from bot.chats import collection_of
from bot.config import TOKEN_ENV, BotConfig, load_config
from bot.playground.fake_telegram import Chat, FakeTelegram, User
from indexer.config import ModelConfig
from indexer.errors import ConfigError
from indexer.ingest import handover
from indexer.model.embedder import Embedder
from indexer.service import IndexService

pytest_plugins = ["bot_fixtures"]

RED_CIRCLE = "a red circle"


@pytest.fixture
def milvus_uri(tmp_path: Path) -> Iterator[str]:
    """A Milvus server that the bot and the worker process share: Milvus Lite's own gRPC server,
    run in this process (a Milvus Lite file admits only one process)."""
    path = str(tmp_path / "milvus.db")
    uri = server_manager_instance.start_and_get_uri(path)
    assert uri is not None, "Milvus Lite did not start"
    yield uri
    server_manager_instance.release_server(path)


@pytest.fixture
def config_file(
    fake: FakeTelegram,
    tmp_path: Path,
    model_config: ModelConfig,
    tiny_checkpoint: Path,
    milvus_uri: str,
) -> Path:
    """A config file for a bot on ``fake`` that leaves embedding to a worker; no token in it."""
    path = write_bot_config(tmp_path / "config.toml", fake, model_config, tiny_checkpoint)
    with path.open("a", encoding="utf-8") as file:
        file.write('[index]\nbackend = "milvus"\nembedding = "worker"\n')
        file.write(f'[index.milvus]\nuri = "{milvus_uri}"\n')
    return path


@pytest.fixture
def bot_settings(fake: FakeTelegram, config_file: Path) -> BotConfig:
    """The bot's view of the config file: the token comes from its environment."""
    return load_config(config_file, environ={TOKEN_ENV: fake.token})


@pytest.fixture
def bot(fake: FakeTelegram, bot_settings: BotConfig, embedder: Embedder) -> BotWorld:
    """The bot in worker mode (not started)."""
    return BotWorld(fake, bot_settings, embedder)


def newcomers(fake: FakeTelegram) -> tuple[Chat, User]:
    """A group with the bot in it, and a member."""
    return fake.add_group("Group"), fake.add_user("Alice")


def sample(pictures: list[Picture]) -> tuple[list[Picture], list[Picture]]:
    """Three red circles and five other pictures."""
    circles = pictures_of(pictures, RED_CIRCLE)[:3]
    return circles, [p for p in pictures if p[1].caption_en != RED_CIRCLE][:5]


def service_of(world: BotWorld) -> IndexService:
    assert world.service is not None, "the bot is not running"
    return world.service


async def rows(config: BotConfig, sql: str) -> int:
    """A count read straight from the SQLite file, as a second reader."""
    database = config.indexer.storage.data_dir / "index.sqlite3"
    async with aiosqlite.connect(f"file:{database}?mode=ro", uri=True) as db:
        row = await (await db.execute(sql)).fetchone()
    assert row is not None
    return int(row[0])


def test_the_worker_loads_a_config_without_a_token_and_serving_still_demands_one(
    config_file: Path,
) -> None:
    worker_config = load_config(config_file, environ={}, token_required=False)
    assert worker_config.telegram.token is None
    with pytest.raises(
        ConfigError, match=r"telegram\.token: missing; set it or \$TELEGRAM_BOT_TOKEN"
    ):
        load_config(config_file, environ={})


async def test_a_worker_without_a_token_embeds_what_the_bot_handed_over_and_the_bot_finds_it(
    fake: FakeTelegram,
    bot: BotWorld,
    bot_settings: BotConfig,
    config_file: Path,
    held_out_pictures: list[Picture],
) -> None:
    group, alice, (circles, others) = *newcomers(fake), sample(held_out_pictures)
    posted = [*circles, *others]
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in (TOKEN_ENV, "CLIP_SEARCH_CONFIG")
    }

    async with bot.running():
        service = service_of(bot)
        for picture in posted:
            bot.post_photo(group, alice, picture)
        await bot.until_indexed(group, len(posted))
        stats = await service.stats(collection_of(group.id))
        assert (stats.images, stats.pending) == (0, len(posted)), "the bot itself must not embed"
        assert await rows(bot_settings, "SELECT count(*) FROM pending_data") == len(posted)

        worker = subprocess.Popen(
            [sys.executable, "-m", "bot", "--worker", "--config", str(config_file)],
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:

            async def all_searchable() -> bool:
                # Another process's vectors reach this one's Milvus searches a moment later.
                collection = collection_of(group.id)
                hits = await service.search_image(
                    [collection], circles[0][0], k=len(posted), include_self=True
                )
                return worker.poll() is not None or len(hits) == len(posted)

            await until(all_searchable, timeout=60)
            fake.send_text(group, alice, f"/search {RED_CIRCLE}")
            shown = await bot.pictures_in(group)
            worker.send_signal(signal.SIGINT)
            _, errors = await asyncio.to_thread(worker.communicate, timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    assert worker.returncode == 0, errors
    assert "Traceback" not in errors
    assert await rows(bot_settings, "SELECT count(*) FROM pending_data") == 0
    assert sum(s.spec is not None and s.spec.caption_en == RED_CIRCLE for s in shown) == 3
    assert shown[0].spec is not None and shown[0].spec.caption_en == RED_CIRCLE


async def test_a_picture_forgotten_while_the_bot_downloads_it_is_never_handed_over_or_found(
    fake: FakeTelegram,
    bot: BotWorld,
    bot_settings: BotConfig,
    embedder: Embedder,
    held_out_pictures: list[Picture],
) -> None:
    group, alice, (circles, others) = *newcomers(fake), sample(held_out_pictures)
    collection = collection_of(group.id)

    async with bot.running(), working(bot_settings.indexer, embedder):
        service = service_of(bot)
        forgotten = bot.post_photo(group, alice, circles[0])
        fake.stall_downloads(forgotten.file_id)
        await fake.wait_for("getFile", lambda call: call.params.get("file_id") == forgotten.file_id)
        assert await service.forget_message(collection, forgotten.message_id) == 1
        fake.release_downloads()
        for picture in [*circles[1:], *others]:
            bot.post_photo(group, alice, picture)

        async def others_embedded() -> bool:
            stats = await service.stats(collection)
            return (stats.images, stats.pending) == (len(circles) - 1 + len(others), 0)

        await until(others_embedded, timeout=30)
        await asyncio.wait_for(service.wait_idle(), 10)
        fake.send_text(group, alice, f"/search {RED_CIRCLE}")
        shown = await bot.pictures_in(group)

    assert forgotten.file_id not in [s.file_id for s in shown]
    assert sum(s.spec is not None and s.spec.caption_en == RED_CIRCLE for s in shown) == 2
    assert await rows(bot_settings, "SELECT count(*) FROM pending_data") == 0


async def test_the_bot_hands_over_only_a_bounded_backlog_and_resumes_as_the_worker_takes_it(
    fake: FakeTelegram,
    bot: BotWorld,
    bot_settings: BotConfig,
    embedder: Embedder,
    held_out_pictures: list[Picture],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(handover, "MAX_WAITING_PICTURES", 3)
    group, alice = newcomers(fake)
    pictures = held_out_pictures[:7]
    handed_over = "SELECT count(*) FROM pending_data"

    async with bot.running():
        for picture in pictures:
            bot.post_photo(group, alice, picture)
        await bot.until_indexed(group, len(pictures))
        assert await rows(bot_settings, handed_over) == 3, "a stopped worker must not fill the disk"

        async with working(bot_settings.indexer, embedder):

            async def all_embedded() -> bool:
                return (await service_of(bot).stats(collection_of(group.id))).images == 7

            await until(all_embedded, timeout=30)
    assert await rows(bot_settings, handed_over) == 0
