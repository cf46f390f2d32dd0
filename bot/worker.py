"""``python -m bot --worker``: embeds the pictures the bot queued, in a process of its own.

With ``index.embedding = "worker"`` the bot records each picture in SQLite, downloads it from
Telegram and hands its bytes over (stored with the queued row), and answers searches; this
process embeds the handed-over pictures and sends the vectors to Milvus, where the bot's
searches find them. Model work then no longer competes with the bot's replies for the CPU. It
never talks to Telegram, so it needs no token: only the bot holds one. The worker shares the
bot's config file and data folder, so both run on one machine (SQLite does not span machines).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from indexer.config import IndexerConfig
from indexer.service import Embedder, IndexService


@asynccontextmanager
async def working(config: IndexerConfig, embedder: Embedder | None = None) -> AsyncIterator[None]:
    """Embeds queued pictures while the block runs; then finishes the batch in progress."""
    async with await IndexService.open(config, embedder, embed=True):
        yield
