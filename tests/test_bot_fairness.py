"""Fair under load: one noisy person or chat never stalls the others, forged buttons change
nothing, and what the bot keeps per search or per person stays small.

Every test runs the real Application over HTTP against the fake Bot API; what the bot did is
read from the fake's recorded calls. Time limits are generous hang guards, not speed checks.
"""

from __future__ import annotations

import asyncio
import io
import random

import pytest
from bot_world import BotWorld, Picture, first_call, is_footer, more_data, pictures_of, until
from PIL import Image

from bot.chats import collection_of
from bot.context import deps_of
from bot.permissions import UNSEEN_LOOKUPS
from bot.playground.fake_telegram import Chat, User

pytest_plugins = ["bot_fixtures"]

RED_CIRCLE = "a red circle"
SLOW_DOWN = "You're searching a bit fast"
#: Generous: a fair bot answers in well under a second here; a stalled one takes minutes.
HANG_GUARD = 30.0


async def group_with_circles(
    world: BotWorld, held_out_pictures: list[Picture], count: int = 3
) -> tuple[Chat, User]:
    group = world.fake.add_group("Shapes")
    alice = world.fake.add_user("Alice")
    for picture in pictures_of(held_out_pictures, RED_CIRCLE)[:count]:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, count)
    return group, alice


def slow_downs(world: BotWorld, chat: Chat) -> list[str]:
    return [
        call.params["text"]
        for call in world.fake.calls("sendMessage", chat)
        if call.params["text"].startswith(SLOW_DOWN)
    ]


@pytest.mark.parametrize("telegram_settings", [{"queries_per_minute": 12, "results_per_page": 1}])
async def test_a_flood_in_one_group_delays_no_other_chat(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice = await group_with_circles(world, held_out_pictures)
    bob = world.fake.add_user("Bob")
    world.fake.set_member(group, bob, "member")
    carol = world.fake.add_user("Carol")

    for _ in range(30):
        world.fake.send_text(group, alice, f"/search {RED_CIRCLE}")
    # 12 answers of two messages each (a picture, the More button): more than a group may be
    # sent in a minute (20), so the last ones wait for the group's budget.
    await world.fake.wait_until_updates_consumed()
    world.fake.send_text(world.fake.private_chat(carol), carol, "/help")
    help_reply = await world.text_in(world.fake.private_chat(carol), timeout=HANG_GUARD)
    world.fake.send_text(world.fake.private_chat(bob), bob, RED_CIRCLE)
    bobs = await first_call(
        world.fake, ["sendMediaGroup", "sendPhoto"], world.fake.private_chat(bob), HANG_GUARD
    )

    async def all_answers_sent() -> bool:
        return len([c for c in world.fake.calls("sendMessage", group) if is_footer(c)]) == 12

    await until(all_answers_sent, timeout=120)
    assert help_reply.ok
    # Bob's membership check in the flooded group did not queue behind its messages: he was
    # answered while the group's last answers still waited for its budget.
    sends = [c for c in world.fake.calls(chat_id=group) if c.method.startswith("send")]
    assert bobs.at < max(call.at for call in sends)
    assert len(slow_downs(world, group)) <= 1


@pytest.mark.parametrize("telegram_settings", [{"queries_per_minute": 2}])
async def test_slow_down_notices_come_once_per_person_per_window_and_tag_is_limited_too(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice = await group_with_circles(world, held_out_pictures)
    posted = next(iter(world.posted.values()))

    for number in range(2):
        world.fake.send_text(group, alice, f"/tag nickname{number}", reply_to=posted.message_id)
    tagged = [await world.text_in(group, timeout=HANG_GUARD) for _ in range(2)]
    for number in range(2, 5):
        world.fake.send_text(group, alice, f"/tag nickname{number}", reply_to=posted.message_id)
    for _ in range(4):
        world.fake.send_text(group, alice, f"/search {RED_CIRCLE}")
    await world.until_handled()

    assert all(call.params["text"].startswith("Tagged") for call in tagged)
    assert world.service is not None
    assert (await world.service.stats(collection_of(group.id))).tags == 2
    assert len(slow_downs(world, group)) == 1
    assert not world.fake.calls("sendMediaGroup", group)


async def test_a_strangers_message_asks_telegram_about_few_groups_and_caches_the_answer(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    circles = pictures_of(held_out_pictures, RED_CIRCLE)
    poster = world.fake.add_user("Poster")
    groups = [world.fake.add_group(f"Group {n}") for n in range(24)]
    for group, picture in zip(groups, circles * 3, strict=False):
        world.post_photo(group, poster, picture)
    bob = world.fake.add_user("Bob")
    world.fake.set_member(groups[-1], bob, "member")
    world.fake.send_text(groups[-1], bob, "hello")
    for group in groups:
        await world.until_indexed(group, 1)
    stranger = world.fake.add_user("Stranger")

    for _ in range(2):
        world.fake.send_text(world.fake.private_chat(stranger), stranger, RED_CIRCLE)
        await world.text_in(world.fake.private_chat(stranger), timeout=HANG_GUARD)
    world.fake.send_text(world.fake.private_chat(bob), bob, RED_CIRCLE)
    shown = await world.pictures_in(world.fake.private_chat(bob), timeout=HANG_GUARD)

    asked = [c for c in world.fake.calls("getChatMember") if c.params["user_id"] == stranger.id]
    assert 0 < len(asked) <= 2 * UNSEEN_LOOKUPS < len(groups)
    assert len({c.params["chat_id"] for c in asked}) == len(asked)  # no answer asked twice
    assert shown and all(s.posted is not None and s.posted.chat == groups[-1] for s in shown)


def failures_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.handlers.errors"]


async def test_a_forged_group_choice_is_answered_quietly(
    world: BotWorld, held_out_pictures: list[Picture], caplog: pytest.LogCaptureFixture
) -> None:
    group, alice = await group_with_circles(world, held_out_pictures)
    private = world.fake.private_chat(alice)
    world.fake.send_text(private, alice, "/groups")
    listing = await world.text_in(private)

    for forged in ("only:abc", f"only:{group.id}x", "only:", "only:-1", "more", "bogus"):
        query = world.fake.press_button(private, alice, listing.result["message_id"], forged)
        await world.until_handled()
        assert query in world.fake.world.callback_answers

    world.fake.send_text(private, alice, RED_CIRCLE)
    assert await world.pictures_in(private)
    texts = [call.params.get("text", "") for call in world.fake.calls("sendMessage", private)]
    assert not any(text.startswith("Sorry") for text in texts)
    answers = world.fake.world.callback_answers.values()
    assert not any(answer.get("text", "").startswith("Sorry") for answer in answers)
    assert failures_logged(caplog) == []


@pytest.mark.parametrize("telegram_settings", [{"results_per_page": 1}])
async def test_someone_elses_more_button_changes_nothing_and_stays_usable(
    world: BotWorld, held_out_pictures: list[Picture], caplog: pytest.LogCaptureFixture
) -> None:
    group, alice = await group_with_circles(world, held_out_pictures)
    bob = world.fake.add_user("Bob")
    world.fake.set_member(group, bob, "member")
    world.fake.send_text(group, alice, f"/search {RED_CIRCLE}")
    await world.pictures_in(group)
    footer = await world.footer_in(group)
    button = more_data(footer)

    bobs_press = world.fake.press_button(group, bob, footer.result["message_id"], button)
    await world.until_handled()
    assert len(world.fake.calls("sendPhoto", group)) == 1
    forged = world.fake.press_button(group, alice, footer.result["message_id"], "more:forged")
    await world.until_handled()
    world.fake.press_button(group, alice, footer.result["message_id"], button)
    second = await world.pictures_in(group)

    assert bobs_press in world.fake.world.callback_answers
    assert forged in world.fake.world.callback_answers
    assert len(second) == 1
    assert len(world.fake.calls("sendPhoto", group)) == 2
    assert failures_logged(caplog) == []


def noise_png(side: int, seed: int) -> bytes:
    """A PNG of random pixels: megabytes that do not compress."""
    pixels = random.Random(seed).randbytes(side * side * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("telegram_settings", [{"results_per_page": 1}])
async def test_picture_searches_keep_the_query_vector_not_the_picture(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    _, alice = await group_with_circles(world, held_out_pictures)
    private = world.fake.private_chat(alice)
    pictures = [noise_png(700, seed) for seed in range(3)]
    assert all(len(data) > 1_000_000 for data in pictures)

    for data in pictures:
        world.fake.send_photo(private, alice, data)
        await world.pictures_in(private, timeout=HANG_GUARD)
        footer = await world.footer_in(private, timeout=HANG_GUARD)
    downloads = len(world.fake.calls("getFile"))
    world.fake.press_button(private, alice, footer.result["message_id"], more_data(footer))
    more = await world.pictures_in(private, timeout=HANG_GUARD)

    assert len(more) == 1
    assert len(world.fake.calls("getFile")) == downloads
    assert world.application is not None
    assert deps_of(world.application).pages.bytes_held < 64 * 1024


@pytest.mark.parametrize("telegram_settings", [{"queries_per_minute": 2}])
async def test_hints_about_bad_filters_count_against_the_limit_too(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    """Found by attack: a query with a filter that cannot be read was answered with its hint
    before the per-person limit was asked, so anyone could make the bot post a hint for every
    message, spending the group's send budget (20 a minute) that other people's answers need."""
    group, alice = await group_with_circles(world, held_out_pictures, count=1)

    for _ in range(8):
        world.fake.send_text(group, alice, "/search a cat colour:red")

    def sent() -> list[str]:
        return [call.params["text"] for call in world.fake.calls("sendMessage", group)]

    async def answered() -> bool:
        return len(sent()) >= 3

    await world.until_handled()
    await until(answered, timeout=HANG_GUARD)
    await asyncio.sleep(0.5)  # time for any further replies to arrive
    replies = sent()
    hints = [text for text in replies if text.startswith("I don't know the filter")]
    assert len(hints) == 2
    assert len(slow_downs(world, group)) == 1
