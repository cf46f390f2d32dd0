"""The playground's web page and the small JSON API behind it, served by aiohttp.

The page (``static/``: plain HTML, CSS and JavaScript, nothing fetched from elsewhere) acts as
the cast's people: each request says who acts (``user``) and where (``chat``), and becomes the
same fake-Telegram action the tests use (``send_text``, ``send_album``, ``press_button``,
``inline_query``). What the bot does comes back through :class:`~bot.playground.feed.MessageFeed`
by long polling ``/api/messages``.
"""

from __future__ import annotations

import asyncio
import json
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.playground.cast import ALBUM_SIZE, Cast
from bot.playground.fake_telegram import Chat, FakeTelegram, User, World
from bot.playground.fake_telegram.media import image_size
from bot.playground.fake_telegram.state import PRESENT_STATUSES
from bot.playground.fake_telegram.waiting import wait_until
from bot.playground.feed import MessageFeed

#: A long poll of the page returns after this many seconds even when nothing changed.
POLL_SECONDS = 25.0
#: How long the page waits for the bot to answer a button press or an inline query.
ANSWER_SECONDS = 15.0
#: A file above this size is refused before it reaches the fake (Telegram allows 10 MB photos).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
_STATIC = files("bot.playground") / "static"
_PAGES = {
    "": ("index.html", "text/html"),
    "playground.js": ("playground.js", "text/javascript"),
    "playground.css": ("playground.css", "text/css"),
}


class PlaygroundWeb:
    """The aiohttp application of the page; ``app`` is ready to be served."""

    def __init__(self, fake: FakeTelegram, cast: Cast) -> None:
        self._fake = fake
        self._cast = cast
        self._feed = MessageFeed(fake)
        self.app = web.Application(
            client_max_size=MAX_UPLOAD_BYTES * ALBUM_SIZE, middlewares=[_this_page_only]
        )
        self.app.router.add_get("/", self._page)
        self.app.router.add_get("/static/{name}", self._page)
        self.app.router.add_get("/file/{file_id}", self._file)
        self.app.router.add_get("/api/world", self._world)
        self.app.router.add_get("/api/messages", self._messages)
        self.app.router.add_post("/api/send", self._send)
        self.app.router.add_post("/api/photos", self._photos)
        self.app.router.add_post("/api/press", self._press)
        self.app.router.add_post("/api/inline", self._inline)
        self.app.router.add_post("/api/share", self._share)

    # Reading

    async def _page(self, request: web.Request) -> web.Response:
        name, content_type = _PAGES.get(request.match_info.get("name", ""), (None, None))
        if name is None or content_type is None:
            raise web.HTTPNotFound()
        text = (_STATIC / name).read_text(encoding="utf-8")
        return web.Response(text=text, content_type=content_type, charset="utf-8")

    async def _file(self, request: web.Request) -> web.Response:
        stored = self._fake.world.files.get(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound()
        content_type = "image/jpeg" if stored.kind == "photo" else "application/octet-stream"
        return web.Response(
            body=stored.data,
            content_type=content_type,
            headers={"Cache-Control": "max-age=3600"},
        )

    async def _world(self, request: web.Request) -> web.Response:
        """The people, the chats with their members, the bot and its command menus."""
        world = self._fake.world
        chats = [*self._cast.groups, *(world.private_chat(p.user) for p in self._cast.people)]
        return web.json_response(
            {
                "bot": world.bot.user.to_api(),
                "people": [
                    {**person.user.to_api(), "role": person.role} for person in self._cast.people
                ],
                "chats": [{**chat.to_api(), "members": _members(world, chat)} for chat in chats],
                "commands": [
                    {"scope": json.loads(scope), "language": language, "commands": commands}
                    for (scope, language), commands in world.commands.items()
                ],
            }
        )

    async def _messages(self, request: web.Request) -> web.Response:
        """Messages changed after ``?after=N``, waiting for one when there is none yet."""
        after = _int(request.query.get("after", "0"), "after")
        wait = request.query.get("wait", "1") != "0"
        changes = await self._feed.wait(after, POLL_SECONDS if wait else 0)
        return web.json_response(
            {"revision": self._feed.revision, "changes": [c.to_json() for c in changes]}
        )

    # Acting

    async def _send(self, request: web.Request) -> web.Response:
        body = await _json(request)
        user, chat = self._actor(body)
        text = str(body.get("text") or "").strip()
        if not text:
            raise _refused("type a message first")
        message_id = self._fake.send_text(chat, user, text, reply_to=self._reply_to(body, chat))
        return self._acted({"message_id": message_id})

    async def _photos(self, request: web.Request) -> web.Response:
        """One picture becomes a photo, several an album (ten at most each), others a file."""
        form = await request.post()
        user, chat = self._actor(form)
        caption = str(form.get("caption") or "").strip() or None
        reply_to = self._reply_to(form, chat)
        uploads = [field for field in form.getall("file", []) if isinstance(field, web.FileField)]
        if not uploads:
            raise _refused("choose at least one picture")
        pictures, others = [], []
        for upload in uploads:
            data = upload.file.read(MAX_UPLOAD_BYTES + 1)
            if len(data) > MAX_UPLOAD_BYTES:
                raise _refused(f"{upload.filename} is larger than {MAX_UPLOAD_BYTES >> 20} MB")
            readable = await asyncio.to_thread(image_size, data)
            (pictures if readable else others).append((upload, data))
        ids: list[int] = []
        for start in range(0, len(pictures), ALBUM_SIZE):
            batch = [data for _, data in pictures[start : start + ALBUM_SIZE]]
            text = caption if start == 0 else None
            if len(batch) == 1:
                ids.append(
                    self._fake.send_photo(chat, user, batch[0], caption=text, reply_to=reply_to)
                )
            else:
                ids.extend(self._fake.send_album(chat, user, batch, caption=text))
        for upload, data in others:
            mime = upload.content_type or "application/octet-stream"
            ids.append(self._fake.send_document(chat, user, data, upload.filename, mime))
        return self._acted({"message_ids": ids})

    async def _press(self, request: web.Request) -> web.Response:
        """Taps a button; answers with the bot's callback answer (its toast), if any."""
        body = await _json(request)
        user, chat = self._actor(body)
        data = str(body.get("data") or "")
        message_id = _int(body.get("message_id"), "message_id")
        if self._fake.world.message(chat.id, message_id) is None:
            raise _refused("that message is gone")
        query_id = self._fake.press_button(chat, user, message_id, data)
        self._fake.changed.notify()
        answers = self._fake.world.callback_answers
        await wait_until(lambda: query_id in answers, self._fake.changed, ANSWER_SECONDS)
        answer = answers.get(query_id, {})
        return web.json_response({"text": answer.get("text"), "answered": query_id in answers})

    async def _inline(self, request: web.Request) -> web.Response:
        """Types ``@bot query`` in a chat; answers with the bot's inline results."""
        body = await _json(request)
        user, chat = self._actor(body)
        chat_type = "sender" if chat.id == user.id else chat.type
        query_id = self._fake.inline_query(
            user, str(body.get("query") or ""), str(body.get("offset") or ""), chat_type=chat_type
        )
        answers = self._fake.world.inline_answers
        self._fake.changed.notify()
        await wait_until(lambda: query_id in answers, self._fake.changed, ANSWER_SECONDS)
        answer = answers.get(query_id)
        if answer is None:
            return web.json_response({"answered": False, "results": [], "next_offset": ""})
        return web.json_response(
            {
                "answered": True,
                "results": answer.get("results", []),
                "next_offset": answer.get("next_offset", ""),
            }
        )

    async def _share(self, request: web.Request) -> web.Response:
        """Sends a chosen inline result into the chat, as the person who chose it."""
        body = await _json(request)
        user, chat = self._actor(body)
        stored = self._fake.world.files.get(str(body.get("file_id") or ""))
        if stored is None or stored.kind not in ("photo", "document"):
            raise _refused("that picture is unknown")
        caption = str(body.get("caption") or "") or None
        if stored.kind == "photo":
            message_id = self._fake.send_photo(chat, user, stored.data, caption=caption)
        else:
            name = stored.file_path.rsplit("/", 1)[-1]
            mime = "image/" + (name.rsplit(".", 1)[-1].lower().replace("jpg", "jpeg"))
            message_id = self._fake.send_document(
                chat, user, stored.data, name, mime, caption=caption
            )
        return self._acted({"message_id": message_id})

    def _actor(self, body: Any) -> tuple[User, Chat]:
        """Who acts where; refused unless they are one of the cast and in that chat."""
        user_id = _int(body.get("user"), "user")
        chat_id = _int(body.get("chat"), "chat")
        person = next((p for p in self._cast.people if p.user.id == user_id), None)
        world = self._fake.world
        if person is None or chat_id not in world.chats:
            raise _refused("unknown person or chat")
        chat = world.chats[chat_id]
        if chat.type == "private" and chat.id != user_id:
            raise _refused("that is someone else's private chat", web.HTTPForbidden)
        if world.status(chat.id, user_id) not in PRESENT_STATUSES:
            raise _refused(f"{person.user.first_name} is not in that chat", web.HTTPForbidden)
        return person.user, chat

    def _reply_to(self, body: Any, chat: Chat) -> int | None:
        raw = body.get("reply_to")
        if raw in (None, "", "null"):
            return None
        message_id = _int(raw, "reply_to")
        if self._fake.world.message(chat.id, message_id) is None:
            raise _refused("the message you reply to is gone")
        return message_id

    def _acted(self, answer: dict[str, Any]) -> web.Response:
        """Wakes the page's long polls: the user's own message is news too."""
        self._fake.changed.notify()
        return web.json_response(answer)


#: The host names the page is served under; others reach it only through DNS rebinding.
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost"})


@web.middleware
async def _this_page_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuses requests from other sites' pages (an ``Origin`` of another host) and requests
    addressed to another host name, so a web page elsewhere cannot act as the cast."""
    host = request.host
    origin = request.headers.get("Origin")
    if urlsplit(f"//{host}").hostname not in _LOOPBACK_NAMES or (
        origin is not None and urlsplit(origin).netloc != host
    ):
        raise _refused("only the playground's own page may use it", web.HTTPForbidden)
    return await handler(request)


def _refused(reason: str, status: type[web.HTTPError] = web.HTTPBadRequest) -> web.HTTPError:
    """An error the page shows as it is: ``{"error": reason}``."""
    return status(text=json.dumps({"error": reason}), content_type="application/json")


def _members(world: World, chat: Chat) -> dict[str, str]:
    """User id (as JSON keys are strings) → status, for the page to list who is where."""
    return {str(user_id): status for user_id, status in world.members[chat.id].items()}


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _refused(f"{name} must be a whole number") from None


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise _refused("send a JSON object") from None
    if not isinstance(body, dict):
        raise _refused("send a JSON object")
    return body
