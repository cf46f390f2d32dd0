"""``python -m bot --worker``: embeds the pictures the bot queued, in a process of its own.

With ``index.embedding = "worker"`` the bot only records each picture in SQLite and answers
searches; this process takes the queued pictures, downloads them from Telegram, embeds them and
sends the vectors to Milvus, where the bot's searches find them. Model work then no longer
competes with the bot's replies for the CPU. The worker shares the bot's config file and data
folder, so both run on one machine (SQLite does not span machines).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram import Bot

from bot.config import BotConfig
from bot.fetcher import SCHEME, telegram_fetcher
from indexer.service import Embedder, IndexService


@asynccontextmanager
async def working(config: BotConfig, embedder: Embedder | None = None) -> AsyncIterator[None]:
    """Embeds queued pictures while the block runs; then finishes the batch in progress."""
    service = await IndexService.open(config.indexer, embedder, embed=True)
    telegram = config.telegram
    bot = Bot(
        telegram.token.get_secret_value(),
        base_url=telegram.base_url,
        base_file_url=telegram.base_file_url,
    )
    try:
        await bot.initialize()
    except BaseException:
        await service.close()
        raise
    try:
        service.register_fetcher(SCHEME, telegram_fetcher(bot))
        yield
    finally:
        await service.close()
        await bot.shutdown()
