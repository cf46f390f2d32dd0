"""``index.embedding = "worker"``: the bot only queues pictures, a worker process embeds them."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from bot_world import BotWorld, Picture, bot_config, pictures_of, until
from conftest import make_config

from bot.playground.fake_telegram import FakeTelegram
from bot.worker import working
from indexer.config import ModelConfig
from indexer.embedder import Embedder

pytest_plugins = ["bot_fixtures"]

RED_CIRCLE = "a red circle"


async def test_the_worker_embeds_what_the_bot_queued_and_the_bot_finds_it(
    fake: FakeTelegram,
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[Picture],
) -> None:
    index = {
        "backend": "milvus",
        "embedding": "worker",
        "milvus": {"uri": str(tmp_path / "milvus.db")},
    }
    config = dataclasses.replace(
        bot_config(fake, tmp_path / "data", model_config),
        indexer=make_config(tmp_path / "data", model_config, index=index),
    )
    world = BotWorld(fake, config, embedder)
    group, alice = fake.add_group("Group"), fake.add_user("Alice")
    circles = pictures_of(held_out_pictures, RED_CIRCLE)[:3]
    others = [p for p in held_out_pictures if p[1].caption_en != RED_CIRCLE][:5]

    async with world.running():
        assert world.service is not None
        service = world.service
        for picture in [*circles, *others]:
            world.post_photo(group, alice, picture)

        async def stats_of_group() -> tuple[int, int]:
            collections = await service.collections()
            if not collections:
                return 0, 0
            stats = await service.stats(collections[0])
            return stats.images, stats.pending

        async def all_queued() -> bool:
            return (await stats_of_group())[1] == 8

        await until(all_queued)
        await asyncio.sleep(0.5)
        assert await stats_of_group() == (0, 8), "the bot itself must not embed"

        async def all_embedded() -> bool:
            return await stats_of_group() == (8, 0)

        async with working(config, embedder):
            await until(all_embedded, timeout=30)

        fake.send_text(group, alice, f"/search {RED_CIRCLE}")
        shown = await world.pictures_in(group)

    assert shown[0].spec is not None and shown[0].spec.caption_en == RED_CIRCLE
    assert sum(s.spec is not None and s.spec.caption_en == RED_CIRCLE for s in shown) == 3
