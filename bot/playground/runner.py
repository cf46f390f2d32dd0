"""``python -m bot playground``: the real bot, a fake Telegram and a web page, in one process.

Everything listens on 127.0.0.1 only. The fake Telegram lives in memory, so each start begins
afresh: the bot's data folder of the playground is emptied first, and the demo pictures are
posted in the first group and indexed again (a few seconds with the tiny model).
"""

from __future__ import annotations

import asyncio
import errno
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import open_application, serving, until_stopped
from bot.chats import collection_of
from bot.config import BotConfig
from bot.context import deps_of
from bot.playground.cast import Cast, build_cast, post_demo_pictures
from bot.playground.fake_telegram import FakeTelegram
from bot.playground.web import PlaygroundWeb
from indexer.cli.demo import TINY_MODEL_NAME, write_offline_config
from indexer.config import read_toml
from indexer.service import IndexService

HOST = "127.0.0.1"
#: Marks a data folder as the playground's own, so only such a folder is ever emptied.
MARKER = ".playground"
#: ``[telegram]`` keys that make no sense against the embedded Telegram; the playground sets
#: its own token and addresses and always polls.
_REAL_TELEGRAM_ONLY = frozenset({"token", "mode", "webhook", "base_url", "base_file_url"})
#: How long the demo pictures may take to be indexed before the page opens anyway.
INDEXING_TIMEOUT = 300.0


class PlaygroundError(Exception):
    """The playground cannot start; the message says what to change."""


@dataclass(frozen=True)
class PlaygroundOptions:
    """What ``python -m bot playground`` was asked for."""

    port: int
    directory: Path
    config: Path | None


def playground_config(options: PlaygroundOptions, fake: FakeTelegram) -> BotConfig:
    """The user's config (or the offline demo's), pointed at ``fake`` and the playground's data.

    The vectors stay in FAISS in this process whatever the config says, so the fake chats
    never reach a real Milvus; the data folder is the playground's own, never the bot's.
    """
    path = options.config or write_offline_config(options.directory)
    data = read_toml(path)
    telegram = {
        key: value
        for key, value in data.get("telegram", {}).items()
        if key not in _REAL_TELEGRAM_ONLY
    }
    telegram.update(token=fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)
    mapping: dict[str, Any] = {
        **data,
        "telegram": telegram,
        "storage": {"data_dir": str(_fresh_data_dir(options.directory))},
        "index": {**data.get("index", {}), "backend": "faiss", "embedding": "in_process"},
    }
    return BotConfig.from_mapping(mapping, path.resolve().parent, environ={})


def _fresh_data_dir(directory: Path) -> Path:
    """``directory/data``, emptied: the bot's memory of the last session's fake chats."""
    data_dir = (directory / "data").resolve()
    if data_dir.exists() and not (data_dir / MARKER).exists():
        raise PlaygroundError(
            f"{data_dir} exists and is not a playground's data folder; choose another --dir"
        )
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    (data_dir / MARKER).write_text("emptied at each start of the playground\n")
    return data_dir


async def run_playground(options: PlaygroundOptions) -> None:
    """Serves the playground until Ctrl-C or SIGTERM."""
    async with FakeTelegram() as fake:
        cast = build_cast(fake)
        # Without --config it is the demo model; the config, read once the page is up, says.
        page = PlaygroundWeb(fake, cast, demo_model=options.config is None)
        # The page first: a port in use fails before the model is loaded.
        async with _web_site(page, options) as url:
            config = playground_config(options, fake)
            page.demo_model = config.indexer.model.arch == TINY_MODEL_NAME
            pictures = post_demo_pictures(fake, cast)
            application = await open_application(config)
            service = deps_of(application).service
            async with serving(application, config.telegram):
                where = cast.demo_group.title
                print(f"indexing {pictures} demo pictures in {where!r}…", flush=True)
                await _until_indexed(service, cast, pictures)
                print(f"ready: open {url} (Ctrl-C stops)", flush=True)
                await until_stopped()


@asynccontextmanager
async def _web_site(page: PlaygroundWeb, options: PlaygroundOptions) -> AsyncIterator[str]:
    """Serves the page on 127.0.0.1 while the block runs; yields its address."""
    runner = web.AppRunner(
        page.app,
        handler_cancellation=True,
        shutdown_timeout=1.0,
        access_log=None,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, HOST, options.port)
        try:
            await site.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PlaygroundError(
                f"port {options.port} of {HOST} is in use; choose another with --port"
            ) from None
        yield f"http://{HOST}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _until_indexed(service: IndexService, cast: Cast, count: int) -> None:
    """Waits until the first group's demo pictures are all indexed (or failed), and their
    words read, so the words chip answers at once."""
    collection = collection_of(cast.demo_group.id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + INDEXING_TIMEOUT
    while loop.time() < deadline:
        if collection in await service.collections():
            stats = await service.stats(collection)
            if stats.images + stats.reposts + stats.failed >= count:
                await asyncio.wait_for(service.wait_idle(), max(1.0, deadline - loop.time()))
                return
        await asyncio.sleep(0.1)
