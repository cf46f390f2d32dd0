"""Failures around the bot (Telegram errors, flood control, odd updates) never stop it."""

from __future__ import annotations

import pytest
from bot_world import BotWorld, Picture, pictures_of, until

from bot.playground.fake_telegram import Chat, User

pytest_plugins = ["bot_fixtures"]

RED_CIRCLE = "a red circle"


async def group_with_circles(
    world: BotWorld, held_out_pictures: list[Picture]
) -> tuple[Chat, User]:
    group = world.fake.add_group("Shapes")
    alice = world.fake.add_user("Alice")
    for picture in pictures_of(held_out_pictures, RED_CIRCLE)[:3]:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, 3)
    return group, alice


async def test_a_failing_handler_is_logged_apologised_for_and_the_bot_keeps_answering(
    world: BotWorld, held_out_pictures: list[Picture], caplog: pytest.LogCaptureFixture
) -> None:
    group, alice = await group_with_circles(world, held_out_pictures)
    world.fake.fail_next("sendMediaGroup", 500)

    world.fake.send_text(group, alice, f"/search {RED_CIRCLE}")
    apology = await world.text_in(group)
    world.fake.send_text(group, alice, f"/search {RED_CIRCLE}")
    later = await world.pictures_in(group)

    assert apology.params["text"] == "Sorry, something went wrong. Please try again later."
    assert len(later) == 3
    failures = [r for r in caplog.records if r.name == "bot.handlers.errors"]
    assert failures and failures[0].exc_info is not None
    assert "handling update 5000000" in failures[0].getMessage()


async def test_a_failing_membership_check_in_private_is_apologised_for(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    _, alice = await group_with_circles(world, held_out_pictures)
    private = world.fake.private_chat(alice)
    world.fake.fail_next("getChatMember", 500)

    world.fake.send_text(private, alice, RED_CIRCLE)
    apology = await world.text_in(private)
    world.fake.send_text(private, alice, RED_CIRCLE)

    assert apology.params["text"].startswith("Sorry")
    assert len(await world.pictures_in(private)) == 3


async def test_flood_control_is_waited_out_and_the_answer_still_arrives(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice = await group_with_circles(world, held_out_pictures)
    world.fake.fail_next("sendMediaGroup", 429, retry_after=1)

    world.fake.send_text(group, alice, f"/search {RED_CIRCLE}")
    shown = await world.pictures_in(group)

    refused, delivered = world.fake.calls("sendMediaGroup", group)
    assert not refused.ok and delivered.ok and len(shown) == 3
    assert delivered.at - refused.at >= 1


async def test_a_stale_more_button_says_the_search_expired(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice = await group_with_circles(world, held_out_pictures)
    message_id = world.fake.send_text(group, alice, "hello")

    query = world.fake.press_button(group, alice, message_id, "more:unknownkey")
    await world.fake.wait_for("answerCallbackQuery")

    answer = world.fake.world.callback_answers[query]
    assert answer["text"] == "This search has expired. Please search again."
    world.fake.send_text(group, alice, f"/search {RED_CIRCLE}")
    assert len(await world.pictures_in(group)) == 3


async def test_polling_survives_a_telegram_outage(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice = await group_with_circles(world, held_out_pictures)

    async def polling_failed() -> bool:
        return any(not call.ok for call in world.fake.calls("getUpdates"))

    with world.fake.outage(502, methods=["getUpdates"]):
        await until(polling_failed)
    world.fake.send_text(group, alice, f"/search {RED_CIRCLE}")

    assert len(await world.pictures_in(group)) == 3
