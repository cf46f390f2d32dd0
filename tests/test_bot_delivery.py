"""Updates are confirmed to Telegram only after what they must store is committed.

Telegram forgets an update once the bot confirms it (the next getUpdates offset passes it, or
the webhook request is answered 2xx). These tests kill the real ``python -m bot`` at many
instants after a burst of photos, and fill its disk, and check that every photo is stored once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import aiohttp
import pytest
from bot_process import BotProcess, count_rows, write_bot_config
from bot_world import BotWorld, Picture, until

from bot.playground.fake_telegram import CallRecord, Chat, FakeTelegram
from indexer.config import ModelConfig

pytest_plugins = ["bot_fixtures"]

BURST = 30
#: Milliseconds between the bot fetching a burst and kill -9.
KILL_POINTS_MS = [0, 50, 120, 200]
BURST_ON_FULL_DISK = 5
SECRET = "s3cret-Token_1"


def fetched(update_id: int) -> callable:  # type: ignore[valid-type]
    """Whether a getUpdates call handed the bot the update ``update_id``."""

    def check(call: CallRecord) -> bool:
        return any(
            isinstance(u, dict) and u.get("update_id") == update_id for u in call.result or []
        )

    return check


async def until_stored(config: Path, token: str, group: Chat, count: int) -> None:
    async def stored() -> bool:
        return (await count_rows(config, token, group.id))[0] >= count

    await until(stored, timeout=60)


async def test_kill_9_at_any_instant_after_a_burst_loses_and_duplicates_no_photo(
    fake: FakeTelegram, bot_config_file: Path, held_out_pictures: list[Picture]
) -> None:
    config = bot_config_file
    alice = fake.add_user("Alice")
    groups = [fake.add_group(f"Burst {ms} ms") for ms in KILL_POINTS_MS]
    pictures = iter(held_out_pictures)
    processes = []
    try:
        for group, ms in zip(groups, KILL_POINTS_MS, strict=True):
            bot = BotProcess(config, fake.token)
            processes.append(bot)
            await bot.start()
            await bot.until_called(fake, "getUpdates")
            ids = [fake.send_photo(group, alice, next(pictures)[0]) for _ in range(BURST)]
            last_update = fake.world.updates.pending[-1]["update_id"]
            await bot.until_called(fake, "getUpdates", fetched(last_update))
            await asyncio.sleep(ms / 1000)
            await bot.kill()
            assert len(ids) == BURST
        final = BotProcess(config, fake.token)
        processes.append(final)
        started = time.monotonic()
        await final.start()
        # Up, so that the SIGTERM below meets a running bot (the killed ones may have stored
        # and confirmed everything already, and a bot still importing dies of a SIGTERM).
        await final.until_called(fake, "getUpdates", lambda call: call.at >= started)
        await fake.wait_until_updates_consumed(timeout=60)
        for group in groups:
            await until_stored(config, fake.token, group, BURST)
        status = await final.stop()
    finally:
        for process in processes:
            await process.ensure_ended()

    assert status == 0, final.output
    for group in groups:
        assert await count_rows(config, fake.token, group.id) == (BURST, BURST), group.title


async def test_a_full_disk_confirms_nothing_and_every_photo_is_stored_once_there_is_room(
    fake: FakeTelegram, bot_config_file: Path, held_out_pictures: list[Picture]
) -> None:
    config = bot_config_file
    group, alice = fake.add_group("Shapes"), fake.add_user("Alice")
    bot = BotProcess(config, fake.token)
    try:
        await bot.start()
        await bot.until_called(fake, "getUpdates")
        bot.limit_file_size(4096)
        for data, _ in held_out_pictures[:BURST_ON_FULL_DISK]:
            fake.send_photo(group, alice, data)
        first_unstored = fake.world.updates.pending[0]["update_id"]
        await until(lambda: _logged(bot, "not stored"), timeout=30)
        polls = len(fake.calls("getUpdates"))
        await until(lambda: _polled(fake, polls + 3), timeout=30)
        offsets = [call.params.get("offset") or 0 for call in fake.calls("getUpdates")]
        still_queued = len(fake.world.updates.pending)
        rows_while_full = await count_rows(config, fake.token, group.id)

        bot.limit_file_size(None)
        await fake.wait_until_updates_consumed(timeout=60)
        await until_stored(config, fake.token, group, BURST_ON_FULL_DISK)
        status = await bot.stop()
    finally:
        await bot.ensure_ended()

    assert still_queued == BURST_ON_FULL_DISK and rows_while_full == (0, 0)
    assert max(offsets) <= first_unstored
    assert status == 0, bot.output
    stored = await count_rows(config, fake.token, group.id)
    assert stored == (BURST_ON_FULL_DISK, BURST_ON_FULL_DISK)
    assert len([line for line in bot.lines if "not stored" in line]) == 1, bot.output


async def _logged(bot: BotProcess, text: str) -> bool:
    return text in bot.output


async def _polled(fake: FakeTelegram, calls: int) -> bool:
    return len(fake.calls("getUpdates")) >= calls


async def test_a_malformed_update_is_logged_and_skipped(
    world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    fake = world.fake
    alice = fake.add_user("Alice")
    private = fake.private_chat(alice)
    fake.world.updates.push_raw({"update_id": "abc", "message": {"text": "hi"}})
    fake.world.updates.push_raw({"update_id": 10_000, "message": "garbage"})
    fake.world.updates.push_raw(["not", "an", "update"])
    fake.send_text(private, alice, "/help")

    reply = await world.text_in(private, timeout=20)
    await fake.wait_until_updates_consumed()

    assert reply.params["text"].startswith("I find pictures posted in your groups")
    skipped = [r for r in caplog.records if "malformed update" in r.getMessage()]
    assert len(skipped) == 3 and all(r.levelno == logging.WARNING for r in skipped)


async def test_python_m_bot_exits_non_zero_when_it_can_no_longer_receive_updates(
    fake: FakeTelegram, bot_config_file: Path
) -> None:
    config = bot_config_file
    bot = BotProcess(config, fake.token)
    try:
        await bot.start()
        await bot.until_called(fake, "getUpdates")
        fake.fail_next("getUpdates", 401, description="Unauthorized", times=1000)
        status = await bot.wait(timeout=60)
    finally:
        await bot.ensure_ended()

    assert status == 1, bot.output
    assert "no longer receiving updates" in bot.output


async def test_webhook_answers_only_after_the_picture_is_stored_and_refuses_while_it_cannot(
    fake: FakeTelegram,
    tmp_path: Path,
    tiny_checkpoint: Path,
    model_config: ModelConfig,
    held_out_pictures: list[Picture],
) -> None:
    port = _free_port()
    config = write_bot_config(
        tmp_path / "config.toml",
        fake,
        model_config,
        tiny_checkpoint,
        f'mode = "webhook"\n[telegram.webhook]\nurl = "https://bot.example/hook"\n'
        f'secret_token = "{SECRET}"\nport = {port}\n',
    )
    group, alice = fake.add_group("Shapes"), fake.add_user("Alice")
    url = f"http://127.0.0.1:{port}/hook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    bot = BotProcess(config, fake.token)
    try:
        await bot.start()
        await bot.until_called(fake, "setWebhook")
        async with aiohttp.ClientSession() as http:
            await _until_listening(url)
            bot.limit_file_size(4096)
            fake.send_photo(group, alice, held_out_pictures[0][0])
            first = fake.world.updates.pending[-1]
            refused = await http.post(url, json=first, headers=headers)
            bot.limit_file_size(None)
            redelivered = await http.post(url, json=first, headers=headers)
            rows_at_first_answer = await count_rows(config, fake.token, group.id)
            fake.send_photo(group, alice, held_out_pictures[1][0])
            second = await http.post(url, json=fake.world.updates.pending[-1], headers=headers)
            rows_at_second_answer = await count_rows(config, fake.token, group.id)
        status = await bot.stop()
    finally:
        await bot.ensure_ended()

    assert refused.status == 503
    assert redelivered.status == 200 and rows_at_first_answer == (1, 1)
    assert second.status == 200 and rows_at_second_answer == (2, 2)
    assert status == 0, bot.output


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _until_listening(url: str) -> None:
    async def listening() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(url) as response:
                return response.status > 0
        except aiohttp.ClientConnectionError:
            return False

    await until(listening, timeout=30)
