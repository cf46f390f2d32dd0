"""The bot token never appears in any output: not in errors, logs, tracebacks or replies.

Real runs of ``python -m bot``, each down a different path (token rejected at start, API
unreachable, network trouble, a failing handler, /stats, the token revoked while running);
every line they print, and every text the bot sent to Telegram, is searched for the token.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot_process import START_CAP_SECONDS, BotProcess, run_to_the_end
from bot_world import until

from bot.playground.fake_telegram import FakeTelegram

pytest_plugins = ["bot_fixtures"]

REJECTED = "123456789:AAHrejectedTokenThatMustNeverBePrinted"


def assert_hidden(token: str, lines: list[str]) -> None:
    secret_half = token.split(":", 1)[1]
    leaks = [line for line in lines if secret_half in line]
    assert not leaks, leaks


async def test_a_rejected_token_is_reported_without_printing_it(
    bot_config_file: Path,
) -> None:
    status, bot = await run_to_the_end(bot_config_file, REJECTED, timeout=START_CAP_SECONDS)

    assert status == 1
    assert "Telegram rejected the bot token" in bot.output
    assert_hidden(REJECTED, bot.lines)


async def test_an_unreachable_api_is_reported_without_printing_the_token(
    fake: FakeTelegram, bot_config_file: Path
) -> None:
    config = bot_config_file
    config.write_text(
        config.read_text().replace(fake.base_url, "http://127.0.0.1:9/bot"), encoding="utf-8"
    )
    status, bot = await run_to_the_end(config, fake.token, timeout=120)

    assert status == 1
    assert "cannot reach the Telegram Bot API" in bot.output
    assert_hidden(fake.token, bot.lines)


async def test_no_log_line_traceback_or_reply_of_a_troubled_run_holds_the_token(
    fake: FakeTelegram, bot_config_file: Path
) -> None:
    config = bot_config_file
    group, alice = fake.add_group("Shapes"), fake.add_user("Alice")
    private = fake.private_chat(alice)
    bot = BotProcess(config, fake.token)
    try:
        await bot.start()
        await bot.until_called(fake, "getUpdates")
        with fake.outage(502, methods=["getUpdates"]):
            await until(lambda: _failed_poll(fake), timeout=30)
        fake.fail_next("sendMessage", 400, description="Bad Request: message is too long")
        fake.send_text(private, alice, "/help")
        await fake.wait_for("sendMessage", lambda c: c.chat_id == private.id, timeout=30)
        fake.send_text(group, alice, "/stats")
        await fake.wait_for("sendMessage", lambda c: c.chat_id == group.id, timeout=30)
        fake.fail_next("getUpdates", 401, description="Unauthorized", times=1000)
        status = await bot.wait(timeout=60)
    finally:
        await bot.ensure_ended()

    assert status == 1
    assert "handling update" in bot.output and "Traceback" in bot.output
    sent = [json.dumps(call.params, default=str) for call in fake.calls()]
    assert_hidden(fake.token, bot.lines + sent)


async def _failed_poll(fake: FakeTelegram) -> bool:
    return any(not call.ok for call in fake.calls("getUpdates"))
