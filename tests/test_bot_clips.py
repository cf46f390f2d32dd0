"""Clips through the bot: videos, GIFs, video notes and stickers posted in a group are found by
what they show and sent back as what they are (real PTB Application, fake Bot API over HTTP).

Every clip is black for its first second, so a clip found by a description was found by a
later frame; a video over the download limit is found by the thumbnail Telegram made of it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot_world import BotWorld, Picture, until
from conftest import jpeg_bytes

from bot.playground.fake_telegram import CallRecord, Chat
from indexer.synthetic import ALL_SPECS, ShapeSpec, draw_shape
from indexer.synthetic_clips import make_clip

pytest_plugins = ["bot_fixtures"]

SUBJECTS = ("red_circle", "green_star", "blue_square", "purple_cross", "yellow_triangle")
#: The Bot API methods that send one result alone, and the parameter naming its file.
SINGLE = {
    "sendPhoto": "photo",
    "sendVideo": "video",
    "sendAnimation": "animation",
    "sendDocument": "document",
    "sendSticker": "sticker",
    "sendVideoNote": "video_note",
}


@dataclass(frozen=True)
class Sent:
    """One result as the bot sent it: how, which file, with which footer."""

    how: str
    file_id: str
    caption: str


def spec(slug: str) -> ShapeSpec:
    return next(s for s in ALL_SPECS if s.slug == slug)


async def post_clips(
    world: BotWorld, held_out_pictures: list[Picture]
) -> tuple[Chat, dict[str, str]]:
    """Three photos and one clip of each kind in a group; returns the clips' file ids by subject."""
    fake, group = world.fake, world.fake.add_group("Clips")
    alice = fake.add_user("Alice")
    for picture in [p for p in held_out_pictures if p[1].slug not in SUBJECTS][:3]:
        world.post_photo(group, alice, picture)
    thumbnail = jpeg_bytes(draw_shape(spec("purple_cross"), random.Random(1), 96))
    posted = {
        "red_circle": fake.send_video(group, alice, make_clip(spec("red_circle"), "mp4")),
        "green_star": fake.send_video(
            group, alice, make_clip(spec("green_star"), "gif"), kind="animation"
        ),
        "blue_square": fake.send_sticker(
            group, alice, data=make_clip(spec("blue_square"), "webm"), is_video=True
        ),
        "purple_cross": fake.send_video(
            group, alice, b"never downloaded", file_size=25 * 1024 * 1024, thumbnail=thumbnail
        ),
        "yellow_triangle": fake.send_video(
            group, alice, make_clip(spec("yellow_triangle"), "mp4"), kind="video_note"
        ),
    }
    await world.until_indexed(group, 8)
    file_ids = {}
    for subject, message_id in posted.items():
        message = fake.world.message(group.id, message_id)
        assert message is not None
        kind = next(k for k in ("animation", "video", "sticker", "video_note") if k in message)
        file_ids[subject] = message[kind]["file_id"]
    return group, file_ids


def results(calls: list[CallRecord], group: Chat) -> list[Sent]:
    """The results sent to ``group`` in these calls, in the order they were sent; a sticker's
    or video note's footer is the message that replies to it."""
    sent: list[Sent] = []
    waiting: dict[int, tuple[str, str]] = {}
    for call in calls:
        if call.chat_id != group.id or call.error is not None:
            continue
        if call.method == "sendMediaGroup":
            sent += [
                Sent(m["type"], m["media"], m.get("caption", "")) for m in call.params["media"]
            ]
        elif call.method in ("sendSticker", "sendVideoNote"):
            key = SINGLE[call.method]
            waiting[call.result["message_id"]] = (key, call.params[key])
        elif call.method in SINGLE:
            key = SINGLE[call.method]
            sent.append(Sent(key, call.params[key], call.params.get("caption", "")))
        elif call.method == "sendMessage":
            replied = (call.params.get("reply_parameters") or {}).get("message_id")
            if replied in waiting:
                sent.append(Sent(*waiting.pop(replied), call.params["text"]))
    return sent


async def search(world: BotWorld, group: Chat, query: str) -> Sent:
    """The result ranked first for ``/search query`` in ``group``."""
    asker = world.fake.add_user("Asker")
    world.fake.set_member(group, asker, "member")
    start = len(world.fake.calls())
    world.fake.send_text(group, asker, f"/search {query}")

    async def answered() -> bool:
        return any(
            s.caption.startswith("#1 ") for s in results(world.fake.calls_since(start), group)
        )

    await until(answered)
    await world.until_handled()
    sent = results(world.fake.calls_since(start), group)
    return next(s for s in sent if s.caption.startswith("#1 "))


async def test_clips_gifs_and_stickers_are_found_by_what_they_show_and_sent_as_they_are(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, file_ids = await post_clips(world, held_out_pictures)

    video = await search(world, group, "a red circle")
    assert (video.how, video.file_id) == ("video", file_ids["red_circle"])
    assert "▶ at 00:0" in video.caption and "▶ at 00:00" not in video.caption
    assert " · Alice · " in video.caption
    gif = await search(world, group, "a green star")
    assert (gif.how, gif.file_id) == ("animation", file_ids["green_star"])
    sticker = await search(world, group, "a blue square")
    assert (sticker.how, sticker.file_id) == ("sticker", file_ids["blue_square"])
    note = await search(world, group, "a yellow triangle")
    assert (note.how, note.file_id) == ("video_note", file_ids["yellow_triangle"])


async def test_a_video_over_the_download_limit_is_found_by_its_thumbnail(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, file_ids = await post_clips(world, held_out_pictures)

    found = await search(world, group, "a purple cross")

    assert (found.how, found.file_id) == ("video", file_ids["purple_cross"])
    fetched = [call.params["file_id"] for call in world.fake.calls("getFile")]
    assert file_ids["purple_cross"] not in fetched


async def test_inline_mode_offers_cached_videos_and_gifs(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, file_ids = await post_clips(world, held_out_pictures)
    carol = world.fake.add_user("Carol")
    world.fake.set_member(group, carol, "member")

    answers = {}
    for query in ("a red circle", "a green star"):
        query_id = world.fake.inline_query(carol, query)
        await world.fake.wait_for(
            "answerInlineQuery", lambda c, q=query_id: c.params["inline_query_id"] == q
        )
        answers[query] = world.fake.world.inline_answers[query_id]["results"][0]

    assert answers["a red circle"]["type"] == "video"
    assert answers["a red circle"]["video_file_id"] == file_ids["red_circle"]
    assert answers["a green star"]["type"] == "gif"
    assert answers["a green star"]["gif_file_id"] == file_ids["green_star"]
