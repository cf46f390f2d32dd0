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
from typing import Any, NoReturn
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.playground.cast import ALBUM_SIZE, Cast
from bot.playground.fake_telegram import Chat, FakeTelegram, User, World
from bot.playground.fake_telegram.media import content_type_of, image_size, is_animated_gif
from bot.playground.fake_telegram.state import PRESENT_STATUSES
from bot.playground.fake_telegram.waiting import wait_until
from bot.playground.feed import MessageFeed
from bot.playground.loopback import addressed_to_loopback

#: A long poll of the page returns after this many seconds even when nothing changed.
POLL_SECONDS = 25.0
#: How long the page waits for the bot to answer a button press or an inline query.
ANSWER_SECONDS = 15.0
#: A file above this size is refused before it reaches the fake (Telegram allows 10 MB photos).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: The whole body of a request to the upload route ``/api/photos``: a few albums' worth.
MAX_UPLOAD_REQUEST_BYTES = MAX_UPLOAD_BYTES * ALBUM_SIZE
#: The body of every other request (the JSON routes). The page sends a flat object of a few
#: ids and at most a message's text (Telegram allows 4096 characters, 16 KB in UTF-8), so
#: 64 KB is ample; a bigger body is refused unread instead of being held in memory and parsed.
MAX_JSON_BYTES = 64 * 1024
#: What the page says beside search results when the bot runs the demo's tiny model, which
#: was trained on coloured shapes alone: any other picture still gets a score (a city at night
#: at 0.64 for "a purple star"), and a newcomer would take it for a judgement.
DEMO_MODEL_NOTE = (
    "The demo model knows only coloured shapes (“a red circle”): other pictures and words get "
    "meaningless scores. Start with --config for a real model.",
    "演示模型只认识彩色形状（如“一个红色的圆形”），其他图片和文字的分数没有意义。",
)
#: Digits a whole number may have: ids are 64-bit (19 digits). Parsing a longer number costs
#: time that grows with the square of its length, and Python refuses those of 4300 digits.
_MAX_DIGITS = 20
_STATIC = files("bot.playground") / "static"
_PAGES = {
    "": ("index.html", "text/html"),
    "playground.js": ("playground.js", "text/javascript"),
    "playground.css": ("playground.css", "text/css"),
}


class PlaygroundWeb:
    """The aiohttp application of the page; ``app`` is ready to be served."""

    def __init__(self, fake: FakeTelegram, cast: Cast, *, demo_model: bool = False) -> None:
        self._fake = fake
        self._cast = cast
        #: Whether the bot runs the demo's shapes-only model, so the page says so beside the
        #: results; the runner sets it once the config is read (the page opens before that).
        self.demo_model = demo_model
        self._feed = MessageFeed(fake)
        self.app = web.Application(client_max_size=MAX_JSON_BYTES, middlewares=[_this_page_only])
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
        content_type = content_type_of(stored.data)
        return web.Response(
            body=stored.data,
            content_type=content_type,
            headers={"Cache-Control": "max-age=3600"},
        )

    async def _world(self, request: web.Request) -> web.Response:
        """The people, the chats with their members and "Try" chips, the bot and its command
        menus, and the note on the demo model (``None`` with a real one)."""
        world = self._fake.world
        chats = [*self._cast.groups, *(world.private_chat(p.user) for p in self._cast.people)]
        return web.json_response(
            {
                "bot": world.bot.user.to_api(),
                "people": [
                    {**person.user.to_api(), "role": person.role} for person in self._cast.people
                ],
                "chats": [self._chat(chat) for chat in chats],
                "commands": [
                    {"scope": json.loads(scope), "language": language, "commands": commands}
                    for (scope, language), commands in world.commands.items()
                ],
                "model_note": list(DEMO_MODEL_NOTE) if self.demo_model else None,
            }
        )

    def _chat(self, chat: Chat) -> dict[str, Any]:
        members = _members(self._fake.world, chat)
        return {**chat.to_api(), "members": members, "tries": self._cast.tries.get(chat.id, [])}

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
        """One picture becomes a photo, several an album (ten at most each), a video file a
        video and an animated GIF an animation (as a Telegram app sends them), and a file no
        decoder reads (HEIC, SVG, a torn JPEG) a file, as a Telegram app sends what it cannot
        show as a photo. The caption goes with the first message sent, whatever its kind, and
        every message is the reply asked for, so neither is lost; ``sent_as_files`` names the
        files, for the page to say why they do not show as pictures."""
        form = await _upload_form(request)
        user, chat = self._actor(form)
        caption = str(form.get("caption") or "").strip() or None
        reply_to = self._reply_to(form, chat)
        pictures, clips, others = await _sorted_uploads(form)
        ids: list[int] = []
        for start in range(0, len(pictures), ALBUM_SIZE):
            batch = [data for _, data in pictures[start : start + ALBUM_SIZE]]
            text = None if ids else caption
            ids.extend(self._post_pictures(chat, user, batch, text, reply_to))
        for upload, data in clips:
            gif = data.startswith(b"GIF8")
            ids.append(
                self._fake.send_video(
                    chat,
                    user,
                    data,
                    caption=None if ids else caption,
                    kind="animation" if gif else "video",
                    mime_type="image/gif" if gif else upload.content_type or "video/mp4",
                    reply_to=reply_to,
                )
            )
        for upload, data in others:
            mime = upload.content_type or "application/octet-stream"
            text = None if ids else caption
            ids.append(
                self._fake.send_document(
                    chat, user, data, upload.filename, mime, caption=text, reply_to=reply_to
                )
            )
        sent_as_files = [upload.filename for upload, _ in others]
        return self._acted({"message_ids": ids, "sent_as_files": sent_as_files})

    def _post_pictures(
        self, chat: Chat, user: User, batch: list[bytes], caption: str | None, reply_to: int | None
    ) -> list[int]:
        """One photo alone, or an album of two to ten."""
        if len(batch) == 1:
            return [self._fake.send_photo(chat, user, batch[0], caption=caption, reply_to=reply_to)]
        return self._fake.send_album(chat, user, batch, caption=caption, reply_to=reply_to)

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
        if stored is None or stored.kind not in ("photo", "document", "video", "animation"):
            raise _refused("that picture is unknown")
        caption = str(body.get("caption") or "") or None
        if stored.kind in ("video", "animation"):
            kind = "animation" if stored.kind == "animation" else "video"
            mime = content_type_of(stored.data)
            message_id = self._fake.send_video(
                chat, user, stored.data, caption=caption, kind=kind, mime_type=mime
            )
        elif stored.kind == "photo":
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


@web.middleware
async def _this_page_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuses requests from other sites' pages (an ``Origin`` of another host) and requests
    addressed to another host (DNS rebinding), so a web page elsewhere cannot act as the cast."""
    origin = request.headers.get("Origin")
    if not addressed_to_loopback(request) or (
        origin is not None and urlsplit(origin).netloc.lower() != request.host.lower()
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
    except (TypeError, ValueError, OverflowError):
        raise _refused(f"{name} must be a whole number") from None


async def _json(request: web.Request) -> dict[str, Any]:
    """The body as a flat JSON object, or a 4xx saying what is wrong with it.

    Each way a body can be malformed (not UTF-8, not JSON, numbers Python cannot hold, nesting
    deeper than its recursion) is a 4xx with a short reason the page shows, not a 500 with a
    traceback; the page only ever sends a flat object, so nothing else is accepted."""
    text = _utf8(await _small_body(request))
    try:
        body = json.loads(text, parse_float=_finite, parse_int=_whole, parse_constant=_no_constant)
    except _BadNumber as error:
        raise _refused(str(error)) from None
    except RecursionError:
        raise _refused("the JSON is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise _refused(f"the body is not JSON: {error.msg} at character {error.pos}") from None
    if not isinstance(body, dict):
        raise _refused("send a JSON object")
    if not all(value is None or isinstance(value, str | int | float) for value in body.values()):
        raise _refused("values may not be nested: send strings, numbers, booleans or null")
    return body


async def _small_body(request: web.Request) -> bytes:
    """The body, refused unread when its declared length is over :data:`MAX_JSON_BYTES`, and
    as soon as it grows past it when it is sent in chunks (the length is then unknown)."""
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise _too_large()
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large() from None


Upload = tuple[web.FileField, bytes]


async def _sorted_uploads(form: Any) -> tuple[list[Upload], list[Upload], list[Upload]]:
    """The form's files read, as (still pictures Pillow decodes, clips: video files and
    animated GIFs, every other file), in their order."""
    uploads = [field for field in form.getall("file", []) if isinstance(field, web.FileField)]
    if not uploads:
        raise _refused("choose at least one picture")
    pictures: list[Upload] = []
    clips: list[Upload] = []
    others: list[Upload] = []
    for upload in uploads:
        data = upload.file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise _refused(f"{upload.filename} is larger than {MAX_UPLOAD_BYTES >> 20} MB")
        if (upload.content_type or "").startswith("video/") or is_animated_gif(data):
            clips.append((upload, data))
            continue
        readable = await asyncio.to_thread(image_size, data)
        (pictures if readable else others).append((upload, data))
    return pictures, clips, others


async def _upload_form(request: web.Request) -> Any:
    """The form of the upload route, the only one allowed a large body (the application's
    limit is the JSON one); a malformed form is a 400, not a 500."""
    try:
        return await request.clone(client_max_size=MAX_UPLOAD_REQUEST_BYTES).post()
    except ValueError as error:  # no boundary, a field that is not UTF-8, …
        raise _refused(f"the form could not be read: {str(error)[:80]}") from None


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _refused(f"the body is not UTF-8 text (byte {error.start})") from None


def _too_large() -> web.HTTPError:
    """A 413 in the page's error shape (aiohttp's own is plain text)."""
    reason = json.dumps({"error": f"the body is too large (at most {MAX_JSON_BYTES >> 10} KB)"})
    return web.HTTPRequestEntityTooLarge(
        MAX_JSON_BYTES, text=reason, content_type="application/json"
    )


class _BadNumber(ValueError):
    """A number JSON allows but the page never sends (NaN, 1e400, thousands of digits)."""


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise _BadNumber(f"the number {text[:20]} is too large")
    return number


def _whole(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise _BadNumber(f"a number has more than {_MAX_DIGITS} digits")
    return int(text)


def _no_constant(name: str) -> NoReturn:
    raise _BadNumber(f"{name} is not a number the playground accepts")
