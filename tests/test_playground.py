"""The playground's server side: its page API, its news feed, and how it starts or refuses to.

The browser test (test_playground_browser.py) runs the whole playground; these check the rules
behind the page without a browser or a model: who may act where, albums of at most ten, what
the feed reports, and the errors a user can cause when starting it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from conftest import jpeg_bytes

from bot.cli import main
from bot.playground.cast import Cast, build_cast
from bot.playground.fake_telegram import FakeTelegram
from bot.playground.feed import MessageFeed
from bot.playground.web import PlaygroundWeb
from indexer.invocation import command_name
from indexer.synthetic import make_dataset

pytest_plugins = ["bot_fixtures"]


@pytest.fixture
async def page(fake: FakeTelegram) -> AsyncIterator[tuple[TestClient, Cast]]:
    """The page's API on a free port, over a fake Telegram with the playground's cast."""
    cast = build_cast(fake)
    client = TestClient(TestServer(PlaygroundWeb(fake, cast).app))
    await client.start_server()
    try:
        yield client, cast
    finally:
        await client.close()


async def test_a_person_acts_only_in_chats_they_are_in(
    page: tuple[TestClient, Cast], fake: FakeTelegram
) -> None:
    client, cast = page
    ada, _, chen = (person.user for person in cast.people)
    shapes = cast.groups[0]

    refused = await client.post(
        "/api/send", json={"user": chen.id, "chat": shapes.id, "text": "hi"}
    )
    assert refused.status == 403
    assert "not in that chat" in (await refused.json())["error"]
    others_private = await client.post(
        "/api/send", json={"user": chen.id, "chat": ada.id, "text": "x"}
    )
    assert others_private.status == 403

    sent = await client.post("/api/send", json={"user": ada.id, "chat": shapes.id, "text": "hello"})
    assert sent.status == 200
    message_id = (await sent.json())["message_id"]
    assert fake.world.messages[(shapes.id, message_id)]["text"] == "hello"
    assert [m["text"] for m in fake.world.messages.values() if m["chat"]["id"] == shapes.id] == [
        "hello"
    ]


async def test_pages_of_other_sites_cannot_act(page: tuple[TestClient, Cast]) -> None:
    client, cast = page
    ada, shapes = cast.people[0].user, cast.groups[0]
    message = {"user": ada.id, "chat": shapes.id, "text": "hi"}

    forged = await client.post("/api/send", json=message, headers={"Origin": "http://evil.test"})
    rebound = await client.post("/api/send", json=message, headers={"Host": "evil.test:80"})

    assert (forged.status, rebound.status) == (403, 403)
    own = f"http://{client.server.host}:{client.server.port}"
    assert (await client.post("/api/send", json=message, headers={"Origin": own})).status == 200


async def test_twelve_pictures_become_an_album_of_ten_and_one_of_two(
    page: tuple[TestClient, Cast], fake: FakeTelegram
) -> None:
    client, cast = page
    ben, trip = cast.people[1].user, cast.groups[1]
    form = FormData()
    form.add_field("user", str(ben.id))
    form.add_field("chat", str(trip.id))
    form.add_field("caption", "our trip")
    for number, (image, _) in enumerate(make_dataset(12, seed=5, size=64)):
        form.add_field("file", jpeg_bytes(image), filename=f"{number}.jpg")

    answer = await client.post("/api/photos", data=form)

    assert answer.status == 200
    ids = (await answer.json())["message_ids"]
    posted = [fake.world.messages[(trip.id, message_id)] for message_id in ids]
    albums = [message["media_group_id"] for message in posted]
    assert len(posted) == 12
    assert len(set(albums[:10])) == 1 and len(set(albums[10:])) == 1 and albums[0] != albums[10]
    assert [message.get("caption") for message in posted] == ["our trip"] + [None] * 11


async def test_the_feed_reports_new_edited_and_deleted_messages(
    page: tuple[TestClient, Cast], fake: FakeTelegram
) -> None:
    client, cast = page
    ada, group = cast.people[0].user, cast.groups[0]
    first = fake.send_text(group, ada, "one")
    second = fake.send_text(group, ada, "two")
    start = await (await client.get("/api/messages?after=0&wait=0")).json()
    assert [c["message"]["text"] for c in start["changes"]] == ["one", "two"]

    fake.world.messages[(group.id, first)]["text"] = "one, edited"
    del fake.world.messages[(group.id, second)]
    fake.changed.notify()
    news = await (await client.get(f"/api/messages?after={start['revision']}")).json()

    assert [(c["message_id"], c["message"] and c["message"]["text"]) for c in news["changes"]] == [
        (first, "one, edited"),
        (second, None),
    ]


async def test_a_long_poll_wakes_when_a_message_arrives(fake: FakeTelegram) -> None:
    cast = build_cast(fake)
    feed = MessageFeed(fake)
    fake.send_text(cast.groups[0], cast.people[0].user, "before")
    revision = len(await feed.wait(0, 0))
    fake.send_text(cast.groups[0], cast.people[0].user, "after")
    fake.changed.notify()
    changes = await feed.wait(revision, timeout=10)
    assert [change.message and change.message["text"] for change in changes] == ["after"]


def test_the_playground_never_empties_a_data_folder_it_did_not_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    precious = tmp_path / "data" / "index.sqlite3"
    precious.parent.mkdir()
    precious.write_bytes(b"the real bot's pictures")

    status = main(["playground", "--port", "0", "--dir", str(tmp_path)])

    assert status == 1
    assert "is not a playground's data folder; choose another --dir" in capsys.readouterr().err
    assert precious.read_bytes() == b"the real bot's pictures"


def test_a_port_in_use_is_named_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = main(["playground", "--port", str(port), "--dir", str(tmp_path)])
    assert status == 1
    assert f"port {port} of 127.0.0.1 is in use; choose another with --port" in (
        capsys.readouterr().err
    )


def test_bot_help_tells_a_user_where_token_and_config_come_from(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for needed in ("TELEGRAM_BOT_TOKEN", "$CLIP_SEARCH_CONFIG", "./config.toml", "playground"):
        assert needed in text
    assert "--worker" in text


def test_bot_help_answers_without_importing_torch(tmp_path: Path) -> None:
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['bot', '--help']\n"
        "try:\n    runpy.run_module('bot', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('torch' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert "TELEGRAM_BOT_TOKEN" in done.stdout
    assert done.stderr.strip().endswith("False"), done.stderr


def test_hints_name_the_command_the_user_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [".venv/bin/clip-search", "search"])
    assert command_name("indexer") == ".venv/bin/clip-search"
    monkeypatch.setattr(sys, "argv", ["/somewhere/indexer/__main__.py", "search"])
    python, module = command_name("indexer").split(" -m ")
    assert module == "indexer"
    assert Path(python).resolve() == Path(sys.executable).resolve()
