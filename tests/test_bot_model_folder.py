"""The bot on a model folder: the default model's kind of text tower (XLM-R, a Hugging Face
model with its own tokenizer) indexes and answers Chinese and English searches through Telegram.
"""

from __future__ import annotations

import pytest
from bot_world import BotWorld, Picture

from indexer.config import ModelConfig
from indexer.model.embedder import Embedder
from indexer.model.folder import ModelFolder

pytest_plugins = ["bot_fixtures"]


@pytest.fixture
def model_config(tiny_xlmr_folder: ModelFolder) -> ModelConfig:
    return ModelConfig(path=tiny_xlmr_folder.path)


@pytest.fixture
def embedder(tiny_xlmr_embedder: Embedder) -> Embedder:
    return tiny_xlmr_embedder


async def test_bot_indexes_and_searches_with_a_model_folder(
    world: BotWorld, held_out_pictures: list[Picture], tiny_xlmr_folder: ModelFolder
) -> None:
    group, alice = world.fake.add_group("Group"), world.fake.add_user("Alice")
    for picture in held_out_pictures[:6]:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, 6)
    assert world.config.indexer.model.path == tiny_xlmr_folder.path

    for query in ("一个红色的圆形", "a red circle"):
        world.fake.send_text(group, alice, f"/search {query}")
        shown = await world.pictures_in(group)
        assert shown and all(s.posted is not None and s.posted.chat == group for s in shown)
    world.fake.send_text(group, alice, "/stats")
    assert f"Model: {tiny_xlmr_folder.identity}" in (await world.text_in(group)).params["text"]
