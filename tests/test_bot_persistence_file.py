"""A persistence file cut short by a kill never keeps the bot from starting."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from bot_world import WorldFactory

from bot.app import PERSISTENCE_FILE
from bot.persistence import set_aside_if_unreadable

pytest_plugins = ["bot_fixtures"]


@pytest.mark.parametrize("cut_to", [0, 1, 40], ids=["empty", "one-byte", "half-written"])
async def test_a_cut_short_persistence_file_is_set_aside_and_the_bot_starts(
    new_world: WorldFactory, cut_to: int, caplog: pytest.LogCaptureFixture
) -> None:
    first = new_world()
    async with first.running():
        group = first.fake.add_group("Holiday")
        alice = first.fake.add_user("Alice")
        first.fake.send_text(group, alice, "/help")
        await first.text_in(group)
    data_dir = first.config.indexer.storage.data_dir
    whole = (data_dir / PERSISTENCE_FILE).read_bytes()
    assert len(whole) > cut_to
    (data_dir / PERSISTENCE_FILE).write_bytes(whole[:cut_to])

    second = new_world()
    with caplog.at_level(logging.WARNING, logger="bot.persistence"):
        async with second.running():
            second.fake.send_text(group, alice, "/help")
            answer = await second.text_in(group)

    assert answer.ok
    [aside] = data_dir.glob(f"{PERSISTENCE_FILE}.unreadable-*")
    assert aside.read_bytes() == whole[:cut_to]
    assert any("set aside" in record.getMessage() for record in caplog.records)


def test_a_persistence_path_that_is_no_regular_file_is_set_aside_without_blocking(
    tmp_path: Path,
) -> None:
    """A FIFO in its place would block the read for ever."""
    fifo = tmp_path / PERSISTENCE_FILE
    os.mkfifo(fifo)

    aside = set_aside_if_unreadable(fifo)

    assert aside is not None and not fifo.exists() and aside.is_fifo()
