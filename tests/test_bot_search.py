"""Searching through the bot: who gets which pictures, how they look, paging, languages."""

from __future__ import annotations

import re

import pytest
from bot_world import BotWorld, Picture, Shown, more_data, pictures_of

from bot.playground.fake_telegram import Chat, User

pytest_plugins = ["bot_fixtures"]

RED_CIRCLE = "a red circle"


def links_to(shown: Shown) -> str | None:
    match = re.search(r"https://t\.me/\S+", shown.caption)
    return match.group(0) if match else None


async def two_groups(
    world: BotWorld, held_out_pictures: list[Picture]
) -> tuple[Chat, Chat, User, User]:
    """Group A (private supergroup, Alice posts) and B (public, Bob posts), 10 pictures each.

    Each gets 4 red circles and 6 other pictures, all different ones.
    """
    fake = world.fake
    group_a = fake.add_group("Group A")
    group_b = fake.add_group("Group B", username="group_b")
    alice, bob = fake.add_user("Alice"), fake.add_user("Bob")
    circles = pictures_of(held_out_pictures, RED_CIRCLE)
    others = [p for p in held_out_pictures if p[1].caption_en != RED_CIRCLE]
    for picture in [*circles[:4], *others[0:60:10]]:
        world.post_photo(group_a, alice, picture)
    for picture in [*circles[4:8], *others[5:65:10]]:
        world.post_photo(group_b, bob, picture)
    await world.until_indexed(group_a, 10)
    await world.until_indexed(group_b, 10)
    return group_a, group_b, alice, bob


async def test_group_search_returns_only_this_groups_pictures_with_poster_and_link(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, _, alice, _ = await two_groups(world, held_out_pictures)

    world.fake.send_text(group_a, alice, f"/search {RED_CIRCLE}")
    shown = await world.pictures_in(group_a)

    assert 2 <= len(shown) <= 5
    assert all(s.posted is not None and s.posted.chat == group_a for s in shown)
    assert shown[0].spec is not None and shown[0].spec.caption_en == RED_CIRCLE
    assert sum(s.spec is not None and s.spec.caption_en == RED_CIRCLE for s in shown) >= 3
    for rank, item in enumerate(shown, start=1):
        assert item.posted is not None
        assert item.caption.startswith(f"#{rank} · score ")
        assert " · Alice · " in item.caption
        chat_number = str(group_a.id).removeprefix("-100")
        assert links_to(item) == f"https://t.me/c/{chat_number}/{item.posted.message_id}"


async def test_public_groups_link_by_username_and_basic_groups_have_no_link(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    _, group_b, _, bob = await two_groups(world, held_out_pictures)
    basic = world.fake.add_group("Basic", supergroup=False)
    for picture in pictures_of(held_out_pictures, RED_CIRCLE)[:2]:
        world.post_photo(basic, bob, picture)
    await world.until_indexed(basic, 2)

    world.fake.send_text(group_b, bob, f"/s {RED_CIRCLE}")
    public = await world.pictures_in(group_b)
    world.fake.send_text(basic, bob, f"/search {RED_CIRCLE}")
    unlinked = await world.pictures_in(basic)

    for item in public:
        assert item.posted is not None
        assert links_to(item) == f"https://t.me/group_b/{item.posted.message_id}"
    assert len(unlinked) == 2
    assert all(links_to(item) is None for item in unlinked)


async def test_private_search_covers_only_the_groups_the_asker_is_a_member_of(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, group_b, _, _ = await two_groups(world, held_out_pictures)
    carol, dave = world.fake.add_user("Carol"), world.fake.add_user("Dave")
    world.fake.set_member(group_a, carol, "member")
    world.fake.set_member(group_b, dave, "left")

    world.fake.send_text(world.fake.private_chat(carol), carol, RED_CIRCLE)
    carols = await world.pictures_in(world.fake.private_chat(carol))
    world.fake.send_text(world.fake.private_chat(dave), dave, RED_CIRCLE)
    daves = await world.text_in(world.fake.private_chat(dave))

    assert carols and all(s.posted is not None and s.posted.chat == group_a for s in carols)
    assert "None of your groups has pictures" in daves.params["text"]
    assert not world.fake.calls("sendMediaGroup", world.fake.private_chat(dave))


async def test_inline_mode_offers_only_pictures_of_the_askers_groups(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, _, _, _ = await two_groups(world, held_out_pictures)
    carol, dave = world.fake.add_user("Carol"), world.fake.add_user("Dave")
    world.fake.set_member(group_a, carol, "member")

    carols_query = world.fake.inline_query(carol, RED_CIRCLE)
    daves_query = world.fake.inline_query(dave, RED_CIRCLE)
    await world.fake.wait_for(
        "answerInlineQuery", lambda c: c.params["inline_query_id"] == carols_query
    )
    await world.fake.wait_for(
        "answerInlineQuery", lambda c: c.params["inline_query_id"] == daves_query
    )

    carols = world.fake.world.inline_answers[carols_query]
    assert carols["is_personal"] is True and carols["cache_time"] <= 60
    file_ids = [result["photo_file_id"] for result in carols["results"]]
    assert file_ids and all(world.posted[f].chat == group_a for f in file_ids)
    assert world.posted[file_ids[0]].spec.caption_en == RED_CIRCLE  # type: ignore[union-attr]
    assert world.fake.world.inline_answers[daves_query]["results"] == []


async def test_a_photo_sent_in_private_finds_the_same_colour_and_shape_first(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, _, alice, _ = await two_groups(world, held_out_pictures)
    blue_stars = pictures_of(held_out_pictures, "a blue star")
    for picture in blue_stars[:3]:
        world.post_photo(group_a, alice, picture)
    await world.until_indexed(group_a, 13)
    query_data, query_spec = blue_stars[7]

    world.fake.send_photo(world.fake.private_chat(alice), alice, query_data, forward_from=alice)
    shown = await world.pictures_in(world.fake.private_chat(alice))

    assert shown[0].spec == query_spec
    assert sum(s.spec == query_spec for s in shown[:3]) >= 2


@pytest.mark.parametrize("telegram_settings", [{"score_margin": 2.0}])
async def test_similar_as_a_reply_pages_with_more_without_repeating(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, _, alice, _ = await two_groups(world, held_out_pictures)
    example = next(
        p for p in world.posted.values() if p.chat == group_a and p.spec.caption_en == RED_CIRCLE
    )

    world.fake.send_text(group_a, alice, "/similar", reply_to=example.message_id)
    first = await world.pictures_in(group_a)
    footer = await world.footer_in(group_a)
    world.fake.press_button(group_a, alice, footer.result["message_id"], more_data(footer))
    second = await world.pictures_in(group_a)

    assert first[0].spec == example.spec
    assert example.file_id not in {s.file_id for s in first}
    assert len(first) == 5 and len(second) == 4
    assert not {s.file_id for s in first} & {s.file_id for s in second}
    assert second[0].caption.startswith("#6 ")
    assert footer.params["text"] == "Results 1–5."
    assert len(more_data(footer)) <= 64 and "red" not in more_data(footer)


@pytest.mark.parametrize("telegram_settings", [{"score_margin": 2.0}])
async def test_a_photo_captioned_similar_searches_and_is_indexed_too(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, _, alice, _ = await two_groups(world, held_out_pictures)
    query = pictures_of(held_out_pictures, RED_CIRCLE)[7]

    posted = world.post_photo(group_a, alice, query, caption="/similar")
    shown = await world.pictures_in(group_a)
    await world.until_indexed(group_a, 11)

    assert shown[0].spec == query[1]
    assert posted.file_id not in {s.file_id for s in shown}
    assert await world.indexed_count(group_a) == 11


async def test_a_mention_with_a_description_searches_the_group(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, _, alice, _ = await two_groups(world, held_out_pictures)

    world.fake.send_text(group_a, alice, f"@clip_search_bot {RED_CIRCLE}")
    shown = await world.pictures_in(group_a)

    assert shown[0].spec is not None and shown[0].spec.caption_en == RED_CIRCLE


async def test_the_groups_buttons_narrow_private_searches_to_one_group(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, group_b, _, _ = await two_groups(world, held_out_pictures)
    carol = world.fake.add_user("Carol")
    world.fake.set_member(group_a, carol, "member")
    world.fake.set_member(group_b, carol, "member")
    private = world.fake.private_chat(carol)

    world.fake.send_text(private, carol, "/groups")
    listing = await world.text_in(private)
    buttons = {
        row[0]["text"]: row[0]["callback_data"]
        for row in listing.params["reply_markup"]["inline_keyboard"]
    }
    world.fake.press_button(private, carol, listing.result["message_id"], buttons["Group B"])
    await world.fake.wait_for("editMessageText", lambda c: c.chat_id == private.id)
    world.fake.send_text(private, carol, RED_CIRCLE)
    only_b = await world.pictures_in(private)

    assert "Group A" in listing.params["text"] and "Group B" in listing.params["text"]
    assert set(buttons) == {"Group A", "Group B", "✓ All groups"}
    assert only_b and all(s.posted is not None and s.posted.chat == group_b for s in only_b)


async def test_chinese_speakers_get_chinese_replies_and_may_search_in_chinese(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, _, _, _ = await two_groups(world, held_out_pictures)
    empty = world.fake.add_group("Empty")
    li = world.fake.add_user("Li", language_code="zh-hans")
    world.fake.set_member(group_a, li, "member")

    world.fake.send_text(group_a, li, "/search 一个红色的圆形")
    shown = await world.pictures_in(group_a)
    world.fake.send_text(empty, li, "/search 一个红色的圆形")
    nothing = await world.text_in(empty)
    world.fake.send_text(world.fake.private_chat(li), li, "/help")
    help_text = await world.text_in(world.fake.private_chat(li))

    assert shown[0].spec is not None and shown[0].spec.caption_en == RED_CIRCLE
    assert " · 相似度 " in shown[0].caption
    assert nothing.params["text"] == "这里还没有索引任何图片。先发一些图片吧！"
    assert "@clip_search_bot" in help_text.params["text"] and "群组" in help_text.params["text"]


async def test_a_group_with_nothing_indexed_gets_a_friendly_message(world: BotWorld) -> None:
    group = world.fake.add_group("Empty")
    alice = world.fake.add_user("Alice")

    world.fake.send_text(group, alice, "/search a cat")
    reply = await world.text_in(group)

    assert reply.params["text"] == "Nothing has been indexed here yet. Post some pictures first!"


@pytest.mark.parametrize("telegram_settings", [{"min_score": 0.99}])
async def test_nothing_relevant_gets_a_friendly_message(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, _, alice, _ = await two_groups(world, held_out_pictures)

    world.fake.send_text(group_a, alice, "/search a red circle")
    reply = await world.text_in(group_a)

    assert reply.params["text"].startswith("I found nothing that matches.")
    assert not world.fake.calls("sendMediaGroup")


async def test_empty_and_too_long_queries_get_a_short_explanation(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, _, alice, _ = await two_groups(world, held_out_pictures)

    world.fake.send_text(group_a, alice, "/search")
    usage = await world.text_in(group_a)
    world.fake.send_text(group_a, alice, "/search " + "red " * 400)
    too_long = await world.text_in(group_a)

    assert usage.params["text"].startswith("Tell me what to look for")
    assert too_long.params["text"] == "Please describe it in at most 1000 characters."


@pytest.mark.parametrize("telegram_settings", [{"queries_per_minute": 2}])
async def test_a_person_searching_too_fast_is_asked_to_wait(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, _, alice, _ = await two_groups(world, held_out_pictures)

    for _ in range(2):
        world.fake.send_text(group_a, alice, f"/search {RED_CIRCLE}")
        await world.pictures_in(group_a)
    world.fake.send_text(group_a, alice, f"/search {RED_CIRCLE}")
    reply = await world.text_in(group_a)

    assert re.fullmatch(r"You're searching a bit fast\. Try again in \d+ s\.", reply.params["text"])
