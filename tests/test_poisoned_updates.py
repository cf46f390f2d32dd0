"""One poisoned update fails only itself: text from Telegram is cleaned where it enters,
storage failures are told apart from an update's own fault, and no update is retried for ever.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from bot_world import BotWorld, Picture, pictures_of
from telegram import Update

from bot.chats import collection_of
from bot.updates.receipts import POISONED_AFTER_ATTEMPTS, Deliveries, is_storage_failure
from indexer.text_cleaning import clean_text

pytest_plugins = ["bot_fixtures"]

RED_CIRCLE = "a red circle"
#: What no person types on purpose: a NUL, a lone surrogate, a bidi override, a non-character.
POISON = "\x00\ud800\u202e\ufffe"


def test_clean_text_drops_what_breaks_the_layers_below_and_keeps_the_words() -> None:
    assert (
        clean_text(f"a{POISON} red\ncircle\t人民广场 😀\u200f")
        == "a red\ncircle\t人民广场 😀\u200f"
    )
    assert clean_text("\U0001fffe\U0010ffff\x7f\x85ok") == "ok"
    clean_text(POISON + "x").encode("utf-8")  # nothing left that UTF-8 cannot hold


def test_only_failures_of_the_storage_itself_are_storage_failures(tmp_path: Path) -> None:
    database = tmp_path / "a.sqlite3"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("CREATE VIRTUAL TABLE words USING fts5(x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(database, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as busy:
        other.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError) as bad_statement:
        holder.execute("SELECT * FROM words WHERE words MATCH ?", ('"a\x00',))
    holder.rollback()

    assert is_storage_failure(busy.value)
    # A constraint can follow a write the disk failed (a row read, then rolled back): retried,
    # and bounded by the poison rule like any retry.
    holder.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    holder.execute("CREATE TABLE child (parent INTEGER REFERENCES parent(id))")
    holder.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(sqlite3.IntegrityError) as missing_parent:
        holder.execute("INSERT INTO child VALUES (42)")
    assert is_storage_failure(missing_parent.value)
    assert not is_storage_failure(bad_statement.value)
    assert not is_storage_failure(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogate"))
    assert is_storage_failure(OSError(28, "No space left on device"))


async def test_a_poisoned_inline_query_or_search_is_answered_and_holds_no_chat_back(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group("Shapes")
    alice = world.fake.add_user("Alice")
    for picture in pictures_of(held_out_pictures, RED_CIRCLE)[:3]:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, 3)

    poisoned_query = world.fake.inline_query(alice, f"{RED_CIRCLE}{POISON}")
    world.fake.send_text(group, alice, f"/search {RED_CIRCLE}{POISON}")
    answered = await world.fake.wait_for(
        "answerInlineQuery", lambda c: c.params["inline_query_id"] == poisoned_query
    )
    in_the_group = await world.pictures_in(group)
    world.fake.send_text(group, alice, f"/search {RED_CIRCLE}")
    later = await world.pictures_in(group)

    world.fake.send_text(group, alice, "/stats")
    stats = await world.text_in(group)

    assert answered.ok and world.fake.world.inline_answers[poisoned_query]["results"]
    assert len(in_the_group) == 3 and len(later) == 3
    assert "Updates skipped as unstorable since the bot started: 0" in stats.params["text"]
    await world.fake.wait_until_updates_consumed()


async def test_a_lone_surrogate_in_a_caption_or_a_name_is_indexed_cleaned(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group("Shapes")
    mallory = world.fake.add_user("Mal\ud800lory\u202e")
    picture = pictures_of(held_out_pictures, RED_CIRCLE)[0]
    world.post_photo(group, mallory, picture, caption="beach\ud800 day\x00")
    await world.until_indexed(group, 1)
    assert world.service is not None

    [shown] = await world.service.list_pictures(collection_of(group.id), _everything())

    assert shown.image.caption == "beach day"
    assert shown.image.poster_name == "Mallory"
    assert shown.image.status == "indexed"


def _everything():
    from indexer.records import PictureFilter

    return PictureFilter()


async def test_an_update_that_keeps_failing_to_store_while_others_store_is_skipped_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    commits = [0]
    deliveries = Deliveries(writes_committed=lambda: commits[0])
    update = Update(update_id=7)
    failure = sqlite3.OperationalError("database or disk is full")
    failure.sqlite_errorcode = 13  # type: ignore[attr-defined]
    application = _FailingApplication(deliveries, failure)

    with caplog.at_level(logging.WARNING, logger="bot.updates.receipts"):
        while_nothing_stores = [
            await deliveries.handle(application, update)  # type: ignore[arg-type]
            for _ in range(3 * POISONED_AFTER_ATTEMPTS)
        ]
        commits[0] += 1  # another update was stored meanwhile: the storage works
        confirmed = await deliveries.handle(application, update)  # type: ignore[arg-type]

    assert not any(while_nothing_stores)
    assert confirmed is True and deliveries.poisoned == 1
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1


class _FailingApplication:
    """Stands in for the Application: its handlers fail to store ``update`` every time."""

    def __init__(self, deliveries: Deliveries, error: BaseException) -> None:
        self._deliveries = deliveries
        self._error = error

    async def process_update(self, update: Update) -> None:
        self._deliveries.note_not_stored(update, self._error)
