"""Configuring, starting and stopping the bot: config keys, command menus, webhook, logs."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import aiohttp
import pytest
from bot_process import BotProcess
from bot_world import BotWorld, Picture, WorldFactory, bot_config

from bot.app import configure_logging
from bot.chats import collection_of
from bot.cli import main
from bot.config import load_config
from bot.playground.fake_telegram import FakeTelegram
from indexer.config import ModelConfig, config_path
from indexer.errors import ConfigError
from indexer.model.embedder import Embedder
from indexer.service import IndexService

pytest_plugins = ["bot_fixtures"]

REPO = Path(__file__).resolve().parent.parent


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_config_file_holds_the_bot_and_the_indexer_and_the_environment_gives_the_token(
    tmp_path: Path,
) -> None:
    path = write_config(
        tmp_path / "config.toml",
        '[telegram]\ntoken = "from-file"\nresults_per_page = 7\nadmin_ids = [42]\n'
        '[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n',
    )

    config = load_config(path, environ={"TELEGRAM_BOT_TOKEN": "123:from-env"})

    assert config.telegram.token.get_secret_value() == "123:from-env"
    assert "from-env" not in repr(config) and "from-env" not in str(config.telegram)
    assert config.telegram.results_per_page == 7 and config.telegram.admin_ids == {42}
    assert config.indexer.storage.data_dir == tmp_path / "data"


@pytest.mark.parametrize(
    ("telegram_section", "message"),
    [
        ("", "telegram.token: missing; set it or $TELEGRAM_BOT_TOKEN"),
        ('token = "t"\ntokne = "typo"', "telegram.tokne: Extra inputs are not permitted"),
        ('token = "t"\nresults_per_page = 11', "telegram.results_per_page: Input should be"),
        ('token = "t"\nmode = "webhook"', "telegram.webhook: required when telegram.mode"),
        (
            'token = "t"\nmode = "webhook"\n[telegram.webhook]\nurl = "https://bot.example/h"',
            "telegram.webhook.secret_token: Field required",
        ),
        (
            'token = "t"\n[telegram.webhook]\nurl = "https://x.example"\nsecret_token = "a b"',
            "telegram.webhook.secret_token: Value error, must be 1-256 characters",
        ),
    ],
)
def test_a_wrong_telegram_section_fails_naming_the_key(
    tmp_path: Path, telegram_section: str, message: str
) -> None:
    path = write_config(tmp_path / "config.toml", f"[telegram]\n{telegram_section}\n")

    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})

    assert message in str(raised.value)


def test_the_config_path_comes_from_the_option_then_the_environment_then_the_default() -> None:
    environ = {"CLIP_SEARCH_CONFIG": "/etc/bot.toml"}

    assert config_path(Path("given.toml"), environ) == Path("given.toml")
    assert config_path(None, environ) == Path("/etc/bot.toml")
    assert config_path(None, {}) == Path("config.toml")


def test_main_reports_a_config_error_in_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(tmp_path / "missing.toml")]) == 2

    assert (
        capsys.readouterr().err.strip().endswith(f"config file not found: {tmp_path}/missing.toml")
    )


async def test_start_registers_the_command_menus_in_english_and_chinese(world: BotWorld) -> None:
    commands = world.fake.world.commands

    def menu(scope: str, language: str) -> dict[str, str]:
        key = (json.dumps({"type": scope}, sort_keys=True), language)
        return {item["command"]: item["description"] for item in commands[key]}

    assert menu("all_private_chats", "")["groups"] == "Choose which groups to search"
    assert menu("all_group_chats", "")["similar"] == "Find pictures similar to a photo"
    assert menu("all_group_chats", "zh")["search"] == "按描述查找图片"
    assert set(menu("all_private_chats", "zh")) == set(menu("all_private_chats", ""))


async def test_start_logs_the_model_and_the_pictures_per_chat_but_never_the_token(
    new_world: WorldFactory,
    fake: FakeTelegram,
    embedder: Embedder,
    held_out_pictures: list[Picture],
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging()
    caplog.set_level(logging.INFO)
    world = new_world()
    group = fake.add_group("Shapes")
    alice = fake.add_user("Alice")
    async with world.running():
        for picture in held_out_pictures[:2]:
            world.post_photo(group, alice, picture)
        await world.until_indexed(group, 2)
        fake.send_text(group, alice, f"/search {held_out_pictures[0][1].caption_en}")
        await world.pictures_in(group)
    first_run = caplog.text
    caplog.clear()

    async with world.running():
        pass

    assert f"is up; model {embedder.identity}" in caplog.text
    assert f"chat {group.id} (Shapes): 2 pictures" in caplog.text
    assert "privacy mode" not in caplog.text
    assert fake.token.split(":")[1] not in first_run + caplog.text


async def test_start_warns_when_privacy_mode_hides_the_pictures_of_groups(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakeTelegram(can_read_all_group_messages=False) as fake:
        world = BotWorld(fake, bot_config(fake, tmp_path / "data", model_config), embedder)
        async with world.running():
            pass

    assert "privacy mode is on" in caplog.text


async def test_webhook_mode_accepts_only_updates_carrying_the_secret_token(
    new_world: WorldFactory, fake: FakeTelegram
) -> None:
    port = free_port()
    webhook = {
        "url": "https://bot.example/hook/updates",
        "secret_token": "s3cret-Token_1",
        "listen": "127.0.0.1",
        "port": port,
    }
    world = new_world(mode="webhook", webhook=webhook)
    alice = fake.add_user("Alice")
    private = fake.private_chat(alice)
    local_url = f"http://127.0.0.1:{port}/hook/updates"

    async with world.running(), aiohttp.ClientSession() as http:
        assert fake.world.webhook is not None
        assert fake.world.webhook["url"] == webhook["url"]
        assert fake.world.webhook["secret_token"] == webhook["secret_token"]
        fake.send_text(private, alice, "/help")
        update = fake.world.updates.pending[-1]
        forged = await http.post(local_url, json=update)
        wrong = await http.post(
            local_url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
        )
        genuine = await http.post(
            local_url,
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": webhook["secret_token"]},
        )
        reply = await world.text_in(private)

    assert (forged.status, wrong.status, genuine.status) == (403, 403, 200)
    assert reply.params["text"].startswith("I find pictures posted in your groups")
    assert len(fake.calls("sendMessage")) == 1


async def test_python_m_bot_serves_until_sigterm_and_keeps_queued_pictures(
    fake: FakeTelegram,
    tmp_path: Path,
    tiny_checkpoint: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[Picture],
) -> None:
    path = write_config(
        tmp_path / "config.toml",
        f'[model]\narch = "{model_config.arch}"\npretrained = ""\n'
        f'checkpoint = "{tiny_checkpoint}"\n[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n'
        f'[telegram]\nbase_url = "{fake.base_url}"\nbase_file_url = "{fake.base_file_url}"\n'
        "poll_timeout_seconds = 1\n",
    )
    group = fake.add_group("Shapes")
    alice = fake.add_user("Alice")
    bot = BotProcess(path, fake.token)
    try:
        await bot.start()
        await bot.until_called(fake, "deleteWebhook")
        posted = [fake.send_photo(group, alice, data) for data, _ in held_out_pictures[:3]]
        await fake.wait_until_updates_consumed()
        status = await bot.stop()
    finally:
        await bot.ensure_ended()

    assert status == 0, bot.output
    assert fake.token.split(":")[1] not in bot.output
    config = load_config(path, environ={"TELEGRAM_BOT_TOKEN": fake.token})
    async with await IndexService.open(config.indexer, embedder) as service:
        stats = await service.stats(collection_of(group.id))
        assert stats.images + stats.pending == len(posted)
