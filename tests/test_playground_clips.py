"""Clips in the playground: a video or a GIF sent from the page arrives as what it is, the page
can play it, and the demo group holds two short clips beside its albums."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from bot.playground.cast import DEMO_CLIPS, Cast, build_cast, post_demo_pictures
from bot.playground.fake_telegram import FakeTelegram
from bot.playground.web import PlaygroundWeb
from indexer.synthetic import ALL_SPECS
from indexer.synthetic_clips import make_clip

pytest_plugins = ["bot_fixtures"]

RED_CIRCLE = next(spec for spec in ALL_SPECS if spec.slug == "red_circle")


@pytest.fixture
async def page(fake: FakeTelegram) -> AsyncIterator[tuple[TestClient, Cast]]:
    cast = build_cast(fake)
    client = TestClient(TestServer(PlaygroundWeb(fake, cast, demo_model=True).app))
    await client.start_server()
    try:
        yield client, cast
    finally:
        await client.close()


async def test_a_video_and_a_gif_sent_from_the_page_arrive_as_a_video_and_an_animation(
    page: tuple[TestClient, Cast], fake: FakeTelegram
) -> None:
    client, cast = page
    ben, trip = cast.people[1].user, cast.groups[1]
    form = FormData()
    for key, value in (("user", ben.id), ("chat", trip.id), ("caption", "our walk")):
        form.add_field(key, str(value))
    form.add_field(
        "file", make_clip(RED_CIRCLE, "mp4"), filename="walk.mp4", content_type="video/mp4"
    )
    form.add_field(
        "file", make_clip(RED_CIRCLE, "gif"), filename="walk.gif", content_type="image/gif"
    )

    answer = await client.post("/api/photos", data=form)

    assert answer.status == 200, await answer.text()
    video, gif = (fake.world.messages[(trip.id, i)] for i in (await answer.json())["message_ids"])
    assert video["caption"] == "our walk" and video["video"]["mime_type"] == "video/mp4"
    assert gif["animation"]["mime_type"] == "image/gif" and "caption" not in gif
    played = await client.get(f"/file/{video['video']['file_id']}")
    assert played.content_type == "video/mp4"
    assert await played.read() == make_clip(RED_CIRCLE, "mp4")


def test_the_demo_group_gets_a_short_video_and_a_gif(fake: FakeTelegram) -> None:
    cast = build_cast(fake)
    posts = post_demo_pictures(fake, cast)
    group = cast.demo_group
    messages = [m for (chat, _), m in fake.world.messages.items() if chat == group.id]
    assert posts == len([m for m in messages if "photo" in m]) + len(DEMO_CLIPS)
    assert sum("video" in m for m in messages) == 1
    assert sum("animation" in m for m in messages) == 1
