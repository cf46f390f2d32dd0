"""What a newcomer trying the playground as Ada, Ben and Chen ran into (issue 22, item 6).

Through the page's JSON API, without a browser or a model: a file the playground cannot read
as a picture keeps its caption (and the page is told it went as a file), the page learns that
the demo model knows only coloured shapes, and each chat's "Try" chips ask for what its own
pictures can answer. The page side of each is in test_playground_browser.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from conftest import jpeg_bytes

from bot.playground.cast import DEMO_PICTURES, DEMO_SEED, Cast, build_cast, words_query
from bot.playground.fake_telegram import Chat, FakeTelegram, User
from bot.playground.web import PlaygroundWeb
from indexer.synthetic import ALL_SPECS, COLOURS, SHAPES, make_dataset

pytest_plugins = ["bot_fixtures"]

#: Bytes no decoder reads, in a file whose name and type claim a picture (HEIC, a torn JPEG).
NOT_A_PICTURE = b"\x00\x00\x00\x18ftypheic" + bytes(200)


async def _client(fake: FakeTelegram, cast: Cast, *, demo_model: bool) -> TestClient:
    client = TestClient(TestServer(PlaygroundWeb(fake, cast, demo_model=demo_model).app))
    await client.start_server()
    return client


@pytest.fixture
async def page(fake: FakeTelegram) -> AsyncIterator[tuple[TestClient, Cast]]:
    """The page's API over the playground's cast, running the demo model as it does by default."""
    cast = build_cast(fake)
    client = await _client(fake, cast, demo_model=True)
    try:
        yield client, cast
    finally:
        await client.close()


def _upload(
    user: User, chat: Chat, files: list[tuple[str, bytes, str]], caption: str = ""
) -> FormData:
    form = FormData()
    form.add_field("user", str(user.id))
    form.add_field("chat", str(chat.id))
    form.add_field("caption", caption)
    for name, data, content_type in files:
        form.add_field("file", data, filename=name, content_type=content_type)
    return form


def _picture(seed: int) -> bytes:
    return jpeg_bytes(make_dataset(1, seed=seed, size=64)[0][0])


async def _posted(client: TestClient, form: FormData) -> dict[str, Any]:
    answer = await client.post("/api/photos", data=form)
    assert answer.status == 200, await answer.text()
    body: dict[str, Any] = await answer.json()
    return body


# 1. A file the playground cannot read as a picture


async def test_an_unreadable_file_is_posted_as_a_file_with_its_caption(
    page: tuple[TestClient, Cast], fake: FakeTelegram
) -> None:
    client, cast = page
    ben, trip = cast.people[1].user, cast.groups[1]
    form = _upload(ben, trip, [("route.heic", NOT_A_PICTURE, "image/heic")], "our walk")

    answer = await _posted(client, form)

    [message_id] = answer["message_ids"]
    message = fake.world.messages[(trip.id, message_id)]
    assert message["document"]["file_name"] == "route.heic"
    assert message["caption"] == "our walk"
    assert answer["sent_as_files"] == ["route.heic"]


async def test_the_caption_goes_once_with_the_first_message_sent(
    page: tuple[TestClient, Cast], fake: FakeTelegram
) -> None:
    client, cast = page
    ben, trip = cast.people[1].user, cast.groups[1]
    files = [
        ("route.heic", NOT_A_PICTURE, "image/heic"),
        ("beach.jpg", _picture(1), "image/jpeg"),
    ]

    answer = await _posted(client, _upload(ben, trip, files, "our walk"))

    posted = [fake.world.messages[(trip.id, i)] for i in answer["message_ids"]]
    assert [("photo" in m, m.get("caption")) for m in posted] == [(True, "our walk"), (False, None)]
    assert answer["sent_as_files"] == ["route.heic"]


async def test_pictures_and_files_sent_as_a_reply_stay_a_reply(
    page: tuple[TestClient, Cast], fake: FakeTelegram
) -> None:
    client, cast = page
    ben, trip = cast.people[1].user, cast.groups[1]
    asked = fake.send_text(trip, cast.people[0].user, "photos of the walk, anyone?")
    pictures = [(f"{n}.jpg", _picture(n), "image/jpeg") for n in range(2)]
    for files in ([("route.heic", NOT_A_PICTURE, "image/heic")], pictures):
        form = _upload(ben, trip, files)
        form.add_field("reply_to", str(asked))

        answer = await _posted(client, form)

        for message_id in answer["message_ids"]:
            replied = fake.world.messages[(trip.id, message_id)].get("reply_to_message")
            assert replied is not None and replied["message_id"] == asked


async def test_only_unreadable_files_are_reported_as_sent_as_files(
    page: tuple[TestClient, Cast],
) -> None:
    client, cast = page
    ben, trip = cast.people[1].user, cast.groups[1]
    answer = await _posted(client, _upload(ben, trip, [("a.jpg", _picture(2), "image/jpeg")]))
    assert answer["sent_as_files"] == []


# 3. The demo model knows only coloured shapes, and the page says so


async def test_the_page_is_told_the_demo_model_knows_only_coloured_shapes(
    page: tuple[TestClient, Cast],
) -> None:
    client, _ = page
    world = await (await client.get("/api/world")).json()
    english, chinese = world["model_note"]
    assert "coloured shapes" in english
    assert "彩色形状" in chinese
    assert len(english) < 160 and len(chinese) < 60, "a short note, not a README"


async def test_with_a_real_model_the_page_gets_no_note(fake: FakeTelegram) -> None:
    cast = build_cast(fake)
    client = await _client(fake, cast, demo_model=False)
    try:
        world = await (await client.get("/api/world")).json()
    finally:
        await client.close()
    assert world["model_note"] is None


# 4. Each chat's "Try" chips ask for what its own pictures can answer


def _tries(world: dict[str, Any], chat: Chat | User) -> list[str]:
    tries: list[str] = next(c["tries"] for c in world["chats"] if c["id"] == chat.id)
    return tries


def _names_a_shape(text: str) -> bool:
    words = [*(c.en for c in COLOURS), *(c.zh for c in COLOURS)]
    words += [*(s.en for s in SHAPES), *(s.zh for s in SHAPES)]
    return any(word in text for word in words)


def _query(chip: str, bot: str) -> str | None:
    """What a chip searches for (a /search, an inline query or a private text), if anything."""
    for prefix in ("/search ", f"@{bot} "):
        if chip.startswith(prefix):
            return chip.removeprefix(prefix).strip() or None
    return None if chip.startswith("/") else chip


async def test_the_demo_groups_chips_search_for_its_own_pictures(
    page: tuple[TestClient, Cast],
) -> None:
    client, cast = page
    world = await (await client.get("/api/world")).json()
    bot = world["bot"]["username"]
    shown = {spec.caption_en for _, spec in make_dataset(DEMO_PICTURES, DEMO_SEED, 8)}
    shown |= {spec.caption_zh for spec in ALL_SPECS if spec.caption_en in shown}

    queries = [_query(chip, bot) for chip in _tries(world, cast.groups[0])]

    searched = [query for query in queries if query is not None]
    assert len(searched) >= 3
    # Besides the shapes and the albums' captions, one chip searches by the words on a picture.
    assert all(query in shown or query in ("shapes", words_query()) for query in searched)
    assert any(chip.startswith(f"@{bot} ") for chip in _tries(world, cast.groups[0]))


async def test_a_group_without_pictures_offers_no_shape_to_search_for(
    page: tuple[TestClient, Cast],
) -> None:
    client, cast = page
    world = await (await client.get("/api/world")).json()
    trip = _tries(world, cast.groups[1])
    assert trip and trip != _tries(world, cast.groups[0])
    assert not any(_names_a_shape(chip) for chip in trip), trip


async def test_private_chips_search_only_where_the_person_has_pictures_to_find(
    page: tuple[TestClient, Cast],
) -> None:
    client, cast = page
    world = await (await client.get("/api/world")).json()
    ada, _, chen = (person.user for person in cast.people)
    assert any(_names_a_shape(chip) for chip in _tries(world, ada))
    chens = _tries(world, chen)
    assert "/groups" in chens
    assert not any(_names_a_shape(chip) for chip in chens), chens
