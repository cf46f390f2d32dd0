"""Continuing a search (the More button, inline ``next_offset``) re-checks who may see what.

A continuation is a promise made to the person who asked, when they were a member. Every page
asks again, with the same membership cache as a fresh search: someone kicked from a group, or a
group the bot left, yields no more of that group's pictures.
"""

from __future__ import annotations

import pytest
from bot_world import BotWorld, Picture, first_call, more_data, pictures_of

from bot.playground.fake_telegram import CallRecord, Chat, User

pytest_plugins = ["bot_fixtures"]

RED_CIRCLE = "a red circle"
#: Everything stays relevant and the cache expires at once, so a page always has a next one
#: and a membership change is seen by the very next request (as by a fresh search).
SETTINGS = {"score_margin": 2.0, "results_per_page": 2, "membership_cache_seconds": 0}
pytestmark = pytest.mark.parametrize("telegram_settings", [SETTINGS])


async def group_with_pictures(
    world: BotWorld, held_out_pictures: list[Picture], count: int
) -> tuple[Chat, User]:
    """A group where Alice posted ``count`` pictures and Carol is a member."""
    group = world.fake.add_group("Group A")
    alice, carol = world.fake.add_user("Alice"), world.fake.add_user("Carol")
    world.fake.set_member(group, carol, "member")
    circles = pictures_of(held_out_pictures, RED_CIRCLE)
    others = [p for p in held_out_pictures if p[1].caption_en != RED_CIRCLE]
    for picture in [*circles, *others][:count]:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, count)
    return group, carol


async def first_private_page(world: BotWorld, carol: User) -> tuple[int, str]:
    """Carol searches in private; returns the footer's message id and its More button's data."""
    private = world.fake.private_chat(carol)
    world.fake.send_text(private, carol, RED_CIRCLE)
    assert await world.pictures_in(private)
    footer = await world.footer_in(private)
    return footer.result["message_id"], more_data(footer)


async def press_more(world: BotWorld, carol: User, footer: tuple[int, str]) -> CallRecord:
    """Carol presses More under her footer; returns what the bot sent her next."""
    private = world.fake.private_chat(carol)
    message_id, data = footer
    world.fake.press_button(private, carol, message_id, data)
    return await first_call(world.fake, ["sendMediaGroup", "sendPhoto", "sendMessage"], private, 10)


async def test_more_still_pages_for_a_member(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    _, carol = await group_with_pictures(world, held_out_pictures, 6)
    footer = await first_private_page(world, carol)

    answer = await press_more(world, carol, footer)

    assert answer.method == "sendMediaGroup" and len(answer.params["media"]) == 2
    assert answer.params["media"][0]["caption"].startswith("#3 ")


@pytest.mark.parametrize("change", ["kicked", "left", "bot removed"])
async def test_more_shows_nothing_more_of_a_group_the_asker_no_longer_may_search(
    world: BotWorld, held_out_pictures: list[Picture], change: str
) -> None:
    group, carol = await group_with_pictures(world, held_out_pictures, 6)
    footer = await first_private_page(world, carol)

    if change == "bot removed":
        world.fake.bot_removed(group, world.fake.add_user("Admin"))
        await world.until_member_status(group, present=False)
    else:
        world.fake.set_member(group, carol, change)
    answer = await press_more(world, carol, footer)

    assert answer.method == "sendMessage"
    assert "None of your groups has pictures" in answer.params["text"]


async def inline_pages(world: BotWorld, carol: User, offset: str = "") -> dict:
    query_id = world.fake.inline_query(carol, RED_CIRCLE, offset)
    await world.fake.wait_for(
        "answerInlineQuery", lambda c: c.params["inline_query_id"] == query_id
    )
    answer: dict = world.fake.world.inline_answers[query_id]
    return answer


async def test_inline_next_offset_shows_nothing_more_after_leaving_the_group(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, carol = await group_with_pictures(world, held_out_pictures, 24)
    first = await inline_pages(world, carol)
    assert len(first["results"]) == 20 and first["next_offset"]

    world.fake.set_member(group, carol, "left")
    after_leaving = await inline_pages(world, carol, first["next_offset"])

    assert after_leaving["results"] == []
