"""The webhook server refuses before reading: the secret header first, then the size.

A request without the secret, or announcing a body bigger than any update, is answered from its
headers alone: the 90 MB behind them is never read (here: never even sent).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from bot_world import BotWorld, WorldFactory

pytest_plugins = ["bot_fixtures"]

SECRET = "s3cret-Token_1"
HUGE = 90 * 1024 * 1024


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def webhook_bot(new_world: WorldFactory) -> AsyncIterator[tuple[BotWorld, int]]:
    port = _free_port()
    world = new_world(
        mode="webhook",
        webhook={
            "url": "https://bot.example/hook/updates",
            "secret_token": SECRET,
            "listen": "127.0.0.1",
            "port": port,
        },
    )
    async with world.running():
        yield world, port


async def answer_to_headers(port: int, headers: dict[str, str], body_sent: int) -> bytes:
    """Sends a POST's headers and the first ``body_sent`` bytes of its body, then reads the
    answer's status line (b"" if the server hung up without one)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [
        "POST /hook/updates HTTP/1.1",
        "Host: bot.example",
        "Content-Type: application/json",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + b"x" * body_sent)
    await writer.drain()
    try:
        status = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    return status


async def test_a_huge_body_without_the_secret_is_refused_before_it_is_read(
    webhook_bot: tuple[BotWorld, int],
) -> None:
    _, port = webhook_bot

    status = await answer_to_headers(port, {"Content-Length": str(HUGE)}, 64 * 1024)

    assert status.startswith(b"HTTP/1.1 403")


async def test_a_body_bigger_than_any_update_is_refused_even_with_the_secret(
    webhook_bot: tuple[BotWorld, int],
) -> None:
    _, port = webhook_bot
    secret = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    too_big = await answer_to_headers(port, {**secret, "Content-Length": str(HUGE)}, 64 * 1024)
    unannounced = await answer_to_headers(port, {**secret, "Transfer-Encoding": "chunked"}, 0)

    assert too_big.startswith(b"HTTP/1.1 413")
    assert unannounced.startswith(b"HTTP/1.1 411")
