"""Hostile input to the playground's page server, over real HTTP on 127.0.0.1.

Each hostile request must fail alone, with a 4xx and a short reason, and the server must
answer the next ordinary request as if nothing happened: a 500 or a dropped connection would
mean a stray page (or a curious user) can break the playground for everyone using it.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from bot.playground.cast import Cast, build_cast
from bot.playground.fake_telegram import FakeTelegram
from bot.playground.web import PlaygroundWeb

#: Nesting deep enough to exhaust Python's recursion, small enough to pass the size limit.
_DEEP = 30_000


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def page(fake: FakeTelegram) -> AsyncIterator[tuple[TestClient, Cast]]:
    """The page's API on a free port of 127.0.0.1, over a fake Telegram with the cast."""
    cast = build_cast(fake)
    client = TestClient(TestServer(PlaygroundWeb(fake, cast).app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client, cast
    finally:
        await client.close()


async def _still_serves(client: TestClient, cast: Cast) -> None:
    """An ordinary message is still accepted after whatever came before."""
    ada, shapes = cast.people[0].user, cast.groups[0]
    sent = await client.post("/api/send", json={"user": ada.id, "chat": shapes.id, "text": "ok"})
    assert sent.status == 200, await sent.text()


def _actor(cast: Cast) -> str:
    """The start of a JSON object naming a person and a chat they are in."""
    return f'{{"user": {cast.people[0].user.id}, "chat": {cast.groups[0].id}'


_HOSTILE_BODIES = {
    "invalid UTF-8": (lambda actor: actor.encode() + b', "text": "\xff\xfe"}', "UTF-8"),
    "a number too large for a float": (lambda actor: b'{"user": 1e400}', "number"),
    "an actor too large for a float": (
        lambda actor: actor.replace('"user": ', '"user": 1e400, "x": ').encode() + b"}",
        "number",
    ),
    "NaN": (lambda actor: actor.encode() + b', "message_id": NaN}', "number"),
    "Infinity": (lambda actor: actor.encode() + b', "offset": -Infinity}', "number"),
    "an integer of 5000 digits": (lambda actor: b'{"user": ' + b"9" * 5000 + b"}", "number"),
    "very deep nesting": (
        lambda actor: actor.encode() + b', "text": ' + b"[" * _DEEP + b"]" * _DEEP + b"}",
        "nested",
    ),
    "a nested value": (lambda actor: actor.encode() + b', "text": [[["hi"]]]}', "nested"),
    "truncated JSON": (lambda actor: actor.encode(), "JSON"),
    "not an object": (lambda actor: b"[1, 2, 3]", "JSON object"),
    "an empty body": (lambda actor: b"", "JSON"),
}


@pytest.mark.parametrize("route", ["/api/send", "/api/press", "/api/inline", "/api/share"])
@pytest.mark.parametrize("case", sorted(_HOSTILE_BODIES))
async def test_malformed_json_is_a_400_that_says_what_was_wrong(
    page: tuple[TestClient, Cast], route: str, case: str
) -> None:
    client, cast = page
    make_body, reason = _HOSTILE_BODIES[case]

    answer = await client.post(
        route, data=make_body(_actor(cast)), headers={"Content-Type": "application/json"}
    )

    assert answer.status == 400, await answer.text()
    error = (await answer.json())["error"]
    assert reason.lower() in error.lower() and len(error) < 120, error
    await _still_serves(client, cast)


@pytest.mark.parametrize("size", [100 * 1024, 25 * 1024 * 1024])
@pytest.mark.parametrize("route", ["/api/send", "/api/press", "/api/inline", "/api/share"])
async def test_a_large_json_body_is_refused_before_it_is_read(
    page: tuple[TestClient, Cast], route: str, size: int
) -> None:
    client, cast = page
    body = _actor(cast).encode() + b', "text": "' + b"x" * size + b'"}'

    answer = await client.post(route, data=body, headers={"Content-Type": "application/json"})

    assert answer.status == 413
    assert "too large" in (await answer.json())["error"]
    await _still_serves(client, cast)


async def test_a_large_json_body_sent_in_chunks_is_refused_too(
    page: tuple[TestClient, Cast],
) -> None:
    client, cast = page

    async def chunks() -> AsyncIterator[bytes]:
        yield _actor(cast).encode() + b', "text": "'
        for _ in range(64):
            yield b"x" * 16 * 1024
        yield b'"}'

    answer = await client.post(
        "/api/send", data=chunks(), headers={"Content-Type": "application/json"}
    )

    assert answer.status == 413
    await _still_serves(client, cast)


async def test_pictures_larger_than_a_json_body_are_still_uploaded(
    page: tuple[TestClient, Cast], fake: FakeTelegram
) -> None:
    client, cast = page
    noise = Image.effect_noise((1024, 1024), 100).convert("RGB")
    png = io.BytesIO()
    noise.save(png, format="PNG")
    assert len(png.getvalue()) > 512 * 1024
    form = FormData()
    form.add_field("user", str(cast.people[0].user.id))
    form.add_field("chat", str(cast.groups[0].id))
    form.add_field("file", png.getvalue(), filename="noise.png", content_type="image/png")

    answer = await client.post("/api/photos", data=form)

    assert answer.status == 200, await answer.text()
    assert len((await answer.json())["message_ids"]) == 1


@pytest.mark.parametrize("host", ["evil.test:{port}", "127.0.0.1:{other}", "localhost", "::1"])
async def test_requests_addressed_to_another_host_are_refused(
    page: tuple[TestClient, Cast], host: str
) -> None:
    client, cast = page
    port = client.server.port
    assert port is not None
    named = host.format(port=port, other=port + 1 if port < 65535 else port - 1)

    answer = await client.get("/api/world", headers={"Host": named})

    assert answer.status == 403
    await _still_serves(client, cast)


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LocalHost", "[::1]"])
async def test_the_loopback_names_with_the_port_are_served(
    page: tuple[TestClient, Cast], name: str
) -> None:
    client, _ = page

    answer = await client.get("/api/world", headers={"Host": f"{name}:{client.server.port}"})

    assert answer.status == 200


_HOSTILE_FORMS = {
    "a field that is not UTF-8": (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="caption"\r\n\r\n\xff\xfe\r\n--b--\r\n',
    ),
    "no starting boundary": ("multipart/form-data; boundary=b", b"garbage"),
    "no boundary at all": ("multipart/form-data", b"garbage"),
}


@pytest.mark.parametrize("case", sorted(_HOSTILE_FORMS))
async def test_a_malformed_upload_is_a_400(page: tuple[TestClient, Cast], case: str) -> None:
    client, cast = page
    content_type, body = _HOSTILE_FORMS[case]

    answer = await client.post("/api/photos", data=body, headers={"Content-Type": content_type})

    assert answer.status == 400, await answer.text()
    assert "form" in (await answer.json())["error"]
    await _still_serves(client, cast)
