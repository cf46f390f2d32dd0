"""Searching through the bot by who and when, and "like this one, but …": filters in groups,
in private, inline and on every More page; a picture searched together with words."""

from __future__ import annotations

import pytest
from bot_world import BotWorld, Picture, Shown, more_data, pictures_of

from bot.chats import collection_of
from bot.playground.fake_telegram import Chat, User

pytest_plugins = ["bot_fixtures"]

RED_CIRCLE = "a red circle"
#: Everything stays relevant, so a page's length shows how many pictures passed the filters.
SETTINGS = {"score_margin": 2.0, "results_per_page": 3}
pytestmark = pytest.mark.parametrize("telegram_settings", [SETTINGS])


async def ben_and_alice(
    world: BotWorld, held_out_pictures: list[Picture], bens: int = 4
) -> tuple[Chat, User, User, User]:
    """A group where Ben (@ben_k) posts ``bens`` red circles and Alice (@alice) 6 pictures, 4
    red circles (as many as are left of the 8) and others; Carol (who reads in Chinese) is a
    member."""
    fake = world.fake
    group = fake.add_group("Group A")
    ben = fake.add_user("Ben", username="ben_k")
    alice = fake.add_user("Alice", username="alice")
    carol = fake.add_user("Carol", language_code="zh-hans")
    fake.set_member(group, carol, "member")
    circles = pictures_of(held_out_pictures, RED_CIRCLE)
    for picture in circles[:bens]:
        world.post_photo(group, ben, picture)
    others = [p for p in held_out_pictures if p[1].caption_en != RED_CIRCLE]
    for picture in [*circles[bens : bens + 4], *others][:6]:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, bens + 6)
    return group, ben, alice, carol


def posters(shown: list[Shown]) -> set[str]:
    """Who posted the pictures shown, as their captions say (#1 · score 0.31 · Ben · date)."""
    return {item.caption.split(" · ")[2] for item in shown}


async def test_from_in_english_and_chinese_keeps_to_that_posters_pictures(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, _ben, alice, carol = await ben_and_alice(world, held_out_pictures)

    world.fake.send_text(group, alice, f"/search {RED_CIRCLE} from:@BEN_K")
    bens = await world.pictures_in(group)
    world.fake.send_text(group, carol, "/search 红色的圆形 来自：Alice")
    alices = await world.pictures_in(group)

    assert len(bens) == 3 and posters(bens) == {"Ben"}
    assert len(alices) == 3 and posters(alices) == {"Alice"}
    assert all(s.spec is not None and s.spec.caption_en == RED_CIRCLE for s in bens + alices)


async def test_filters_alone_list_the_posters_pictures_newest_first(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, ben, alice, _ = await ben_and_alice(world, held_out_pictures)
    newest = world.post_photo(group, ben, held_out_pictures[-1])
    await world.until_indexed(group, 11)

    world.fake.send_text(group, alice, "/search from:@ben_k last:7d")
    shown = await world.pictures_in(group)

    assert len(shown) == 3
    assert shown[0].file_id == newest.file_id
    assert all(s.caption.startswith(f"#{rank} · Ben · ") for rank, s in enumerate(shown, 1))


async def test_more_keeps_the_filters_page_after_page(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, _ben, alice, _ = await ben_and_alice(world, held_out_pictures, bens=5)

    world.fake.send_text(group, alice, f"/search {RED_CIRCLE} from:ben_k")
    first = await world.pictures_in(group)
    footer = await world.footer_in(group)
    world.fake.press_button(group, alice, footer.result["message_id"], more_data(footer))
    second = await world.pictures_in(group)

    assert len(first) == 3 and len(second) == 2  # Ben's five red circles, then no More
    assert posters(first + second) == {"Ben"}
    assert not {s.file_id for s in first} & {s.file_id for s in second}
    assert "from:" not in more_data(footer) and len(more_data(footer)) <= 64


async def test_bad_filters_and_unknown_posters_get_a_one_line_hint(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, _, alice, carol = await ben_and_alice(world, held_out_pictures, bens=1)

    world.fake.send_text(group, alice, "/search a cat after:yesterdayish")
    bad_date = await world.text_in(group)
    world.fake.send_text(group, alice, "/search a cat colour:red")
    unknown_filter = await world.text_in(group)
    world.fake.send_text(group, alice, "/search a cat from:@nobody")
    nobody = await world.text_in(group)
    world.fake.send_text(world.fake.private_chat(carol), carol, "猫 之后：昨天左右")
    chinese = await world.text_in(world.fake.private_chat(carol))
    world.fake.send_text(group, alice, "/search a cat after:2025-08 before:2025-07")
    no_dates = await world.text_in(group)

    assert bad_date.params["text"] == (
        "I can't read the date in “after:yesterdayish”: write 2025-07-14, 2025-07 or 2025."
    )
    assert unknown_filter.params["text"].startswith("I don't know the filter “colour:red”.")
    assert (
        nobody.params["text"] == "Nobody called @nobody has posted a picture here that I indexed."
    )
    assert chinese.params["text"].startswith("我读不懂“之后：昨天左右”里的日期")
    assert no_dates.params["text"].startswith("“after:2025-08 before:2025-07” leaves no day")
    assert not world.fake.calls("sendMediaGroup")


async def test_inline_keeps_the_filters_on_the_next_offset_and_hints_bad_ones(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, ben, _, carol = await ben_and_alice(world, held_out_pictures, bens=0)
    others = [p for p in held_out_pictures if p[1].caption_en != RED_CIRCLE]
    bens = {world.post_photo(group, ben, picture).file_id for picture in others[10:32]}
    await world.until_indexed(group, 28)

    async def inline(text: str, offset: str = "") -> dict:
        query_id = world.fake.inline_query(carol, text, offset)
        await world.fake.wait_for(
            "answerInlineQuery", lambda c: c.params["inline_query_id"] == query_id
        )
        answer: dict = world.fake.world.inline_answers[query_id]
        return answer

    first = await inline("a blue star from:@ben_k")
    second = await inline("a blue star from:@ben_k", first["next_offset"])
    hinted = await inline("a blue star kind:hologram")

    shown = [r["photo_file_id"] for r in first["results"] + second["results"]]
    assert len(first["results"]) == 20 and len(second["results"]) == 2
    assert len(shown) == len(set(shown)) and set(shown) == bens
    assert hinted["results"] == []
    assert hinted["button"]["text"].startswith("“kind:hologram”：类型只有")
    assert hinted["button"]["start_parameter"] == "help"


async def squares_and_blue_circles(
    world: BotWorld, held_out_pictures: list[Picture]
) -> tuple[Chat, User, User, User]:
    """The group of :func:`ben_and_alice` (Alice's 4 red circles) where Ben posts 4 red
    squares and 4 blue circles: "this red square, but a circle" has one right answer."""
    group, ben, alice, carol = await ben_and_alice(world, held_out_pictures, bens=0)
    squares = pictures_of(held_out_pictures, "a red square")[:4]
    for picture in [*squares, *pictures_of(held_out_pictures, "a blue circle")[:4]]:
        world.post_photo(group, ben, picture)
    await world.until_indexed(group, 14)
    return group, ben, alice, carol


def shapes(shown: list[Shown]) -> list[str | None]:
    return [s.spec.caption_en if s.spec is not None else None for s in shown]


async def test_a_private_photo_with_a_caption_searches_with_the_picture_and_the_words(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    _, ben, _, carol = await squares_and_blue_circles(world, held_out_pictures)
    red_square = pictures_of(held_out_pictures, "a red square")[7][0]
    private = world.fake.private_chat(carol)

    world.fake.send_photo(private, carol, red_square)
    alone = await world.pictures_in(private)
    world.fake.send_photo(private, carol, red_square, caption="circle")
    changed = await world.pictures_in(private)
    world.fake.send_photo(private, carol, red_square, caption="circle", forward_from=ben)
    forwarded = await world.pictures_in(private)

    assert shapes(alone) == shapes(forwarded) == ["a red square"] * 3
    assert shapes(changed) == [RED_CIRCLE] * 3


async def test_similar_with_words_as_a_reply_and_search_as_a_photos_caption(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, _, alice, _ = await squares_and_blue_circles(world, held_out_pictures)
    red_square = next(p for p in world.posted.values() if p.spec.caption_en == "a red square")  # type: ignore[union-attr]

    world.fake.send_text(group, alice, "/similar circle", reply_to=red_square.message_id)
    replied = await world.pictures_in(group)
    query = pictures_of(held_out_pictures, "a red square")[6]
    posted = world.post_photo(group, alice, query, caption="/search circle")
    captioned = await world.pictures_in(group)
    world.post_photo(group, alice, query, caption="/similar@clip_search_bot")
    alone = await world.pictures_in(group)
    await world.until_indexed(group, 16)

    assert shapes(replied) == shapes(captioned) == [RED_CIRCLE] * 3
    assert shapes(alone)[:2] == ["a red square"] * 2
    assert world.service is not None  # the words asked for a search: they are no caption
    stored = await world.service.images_of_message(collection_of(group.id), posted.message_id)
    assert [image.caption for image in stored] == [None]


async def test_help_lists_the_filters_in_english_and_chinese(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    alice = world.fake.add_user("Alice")
    carol = world.fake.add_user("Carol", language_code="zh-hans")

    world.fake.send_text(world.fake.private_chat(alice), alice, "/help")
    english = await world.text_in(world.fake.private_chat(alice))
    world.fake.send_text(world.fake.private_chat(carol), carol, "/help")
    chinese = await world.text_in(world.fake.private_chat(carol))

    for word in ("from:@ben", "after:2025-06-01", "last:7d", "kind:video", "sort:new"):
        assert word in english.params["text"]
    for word in ("来自:@ben", "之后:2025-06-01", "最近:7天", "类型:视频", "排序:最新"):
        assert word in chinese.params["text"]


async def test_a_hint_about_a_very_long_filter_still_fits_in_a_message(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    """Found by attack: the hint quoted the whole filter, so one near Telegram's 4096
    characters made a hint longer than a message may be: Telegram refused it and the asker
    got no answer at all."""
    group, _, alice, _ = await ben_and_alice(world, held_out_pictures, bens=1)

    world.fake.send_text(group, alice, "/search a cat colour:" + "x" * 4050)
    unknown_filter = await world.text_in(group)
    world.fake.send_text(group, alice, "/search a cat from:@" + "n" * 4050)
    nobody = await world.text_in(group)

    assert unknown_filter.params["text"].startswith("I don't know the filter “colour:xxx")
    assert nobody.params["text"].startswith("Nobody called @nnn")
    assert all(len(call.params["text"]) <= 300 for call in (unknown_filter, nobody))
