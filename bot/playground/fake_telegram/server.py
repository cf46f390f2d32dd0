"""``FakeTelegram``: a Bot API server on 127.0.0.1 for end-to-end tests of the real bot.

The bot under test runs unmodified python-telegram-bot over real HTTP; only its base URLs
point here. Tests act as users through the helpers of ``UserActions``, then await what the
bot sent with ``wait_for``. Typical use::

    async with FakeTelegram() as fake:
        app = (
            ApplicationBuilder().token(fake.token)
            .base_url(fake.base_url).base_file_url(fake.base_file_url).build()
        )
        ...
        fake.send_text(group, alice, "/search red bicycle")
        reply = await fake.wait_for("sendMediaGroup", lambda call: call.chat_id == group.id)
"""

import asyncio
import contextlib
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.playground.loopback import addressed_to_loopback

from .actions import UserActions
from .errors import ApiError
from .methods import METHODS, Method, call_method
from .params import Params, read_params
from .state import BotProfile, Chat, User, World
from .waiting import Signal, wait_until

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    403: "Forbidden",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_BOT_ID = 7_000_000_001


@dataclass
class CallRecord:
    """One finished call of the bot: method (canonical name), decoded params, the answer.

    ``at`` is ``time.monotonic()`` when the request arrived; uploads are ``Upload`` objects
    in ``params`` under their part names (``params["photo"]`` for an uploaded photo).
    """

    method: str
    params: dict[str, Any]
    at: float
    result: Any = None
    error: ApiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def chat_id(self) -> int | str | None:
        return self.params.get("chat_id")


@dataclass
class _Outage:
    error: ApiError
    methods: frozenset[str] | None

    def covers(self, method: str) -> bool:
        return self.methods is None or method.lower() in self.methods


@dataclass
class _CallLog:
    records: list[CallRecord] = field(default_factory=list)
    handed_out: set[int] = field(default_factory=set)
    changed: Signal = field(default_factory=Signal)


class FakeTelegram(UserActions):
    """An in-memory Telegram with a Bot API HTTP face; start it with ``async with``.

    State is in ``world`` (see ``state.World``); what the bot called is in ``calls()``.
    """

    def __init__(
        self,
        *,
        bot_username: str = "clip_search_bot",
        bot_first_name: str = "CLIP Search",
        can_join_groups: bool = True,
        can_read_all_group_messages: bool = True,
        supports_inline_queries: bool = True,
    ) -> None:
        bot = User(
            id=_BOT_ID,
            first_name=bot_first_name,
            username=bot_username,
            language_code=None,
            is_bot=True,
        )
        self.world = World(
            BotProfile(
                user=bot,
                can_join_groups=can_join_groups,
                can_read_all_group_messages=can_read_all_group_messages,
                supports_inline_queries=supports_inline_queries,
            )
        )
        self.token = f"{_BOT_ID}:AAFakeTokenForEndToEndTests"
        self.port: int | None = None
        self._log = _CallLog()
        self._faults: defaultdict[str, deque[ApiError]] = defaultdict(deque)
        self._outage: _Outage | None = None
        self._stalled: dict[str, asyncio.Event] = {}
        self._runner: web.AppRunner | None = None

    # Lifecycle

    async def start(self) -> None:
        """Listens on a free port of 127.0.0.1 (read it back from ``port``)."""
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[_loopback_only])
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a long poll the bot abandons must not keep running here.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Answers waiting long polls at once, then closes the server."""
        self.world.updates.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeTelegram":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url`` / ``Bot(base_url=…)``; PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url`` / ``Bot(base_file_url=…)``."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def changed(self) -> Signal:
        """Fires after every call of the bot; the playground's page waits on it for news."""
        return self._log.changed

    # What the bot did

    def calls(
        self, method: str | None = None, chat_id: int | Chat | None = None
    ) -> list[CallRecord]:
        """Every finished call so far (failed ones too), oldest first, optionally filtered."""
        wanted_chat = chat_id.id if isinstance(chat_id, Chat) else chat_id
        return [
            record
            for record in self._log.records
            if (method is None or record.method.lower() == method.lower())
            and (wanted_chat is None or record.chat_id == wanted_chat)
        ]

    def calls_since(self, position: int) -> list[CallRecord]:
        """Every finished call after the first ``position`` ones: a cheap way to follow the log
        as it grows (the soak benchmark reads tens of thousands of calls this way)."""
        return self._log.records[position:]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[CallRecord], bool] | None = None,
        timeout: float = 10.0,
    ) -> CallRecord:
        """The oldest successful call of ``method`` matching ``predicate`` not yet handed out.

        Each record is handed out once, so consecutive waits for "sendMessage" return
        consecutive messages. Raises ``TimeoutError`` listing what the bot did call.
        """
        found: list[int] = []

        def match() -> bool:
            for index, record in enumerate(self._log.records):
                if (
                    index not in self._log.handed_out
                    and record.ok
                    and record.method.lower() == method.lower()
                    and (predicate is None or predicate(record))
                ):
                    found.append(index)
                    return True
            return False

        if not await wait_until(match, self._log.changed, timeout):
            raise TimeoutError(
                f"no successful {method} call matched within {timeout}s; "
                f"the bot called: {self._summary()}"
            )
        self._log.handed_out.add(found[0])
        return self._log.records[found[0]]

    async def wait_until_updates_consumed(self, timeout: float = 10.0) -> None:
        """Waits until the bot has fetched *and confirmed* every queued update.

        PTB confirms a batch with its next getUpdates call, right after putting the batch in
        its own queue: handlers may still be running. Wait for their calls with ``wait_for``.
        """
        if not await self.world.updates.wait_until_consumed(timeout):
            pending = [next(iter(set(u) - {"update_id"})) for u in self.world.updates.pending]
            raise TimeoutError(f"updates still queued after {timeout}s: {pending}")

    # Fault injection

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int = 1,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` fail with ``status`` instead of running.

        429 answers carry ``parameters.retry_after`` (PTB raises ``RetryAfter``).
        """
        if description is None:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == 429
                else _DEFAULT_DESCRIPTIONS.get(status, "Error")
            )
        error = ApiError(status, description, retry_after if status == 429 else None)
        self._faults[method.lower()].extend([error] * times)

    @contextlib.contextmanager
    def outage(
        self, status: int = 500, *, methods: list[str] | None = None, description: str | None = None
    ) -> Iterator[None]:
        """While inside, every call (or only ``methods``) fails with ``status`` (5xx → PTB
        ``NetworkError``). File downloads keep working."""
        error = ApiError(status, description or _DEFAULT_DESCRIPTIONS.get(status, "Error"))
        names = frozenset(name.lower() for name in methods) if methods else None
        self._outage = _Outage(error, names)
        try:
            yield
        finally:
            self._outage = None

    def stall_downloads(self, *file_ids: str) -> None:
        """Downloads of these files hang, as over a dead connection, until released."""
        for file_id in file_ids:
            self._stalled.setdefault(file_id, asyncio.Event())

    def release_downloads(self) -> None:
        """Stalled downloads go on, and new ones of those files no longer stall."""
        for event in self._stalled.values():
            event.set()
        self._stalled.clear()

    # HTTP

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _answer(error=ApiError(401, "Unauthorized"))
        name = request.match_info["method"]
        method = METHODS.get(name.lower())
        record = CallRecord(method.name if method else name, {}, time.monotonic())
        try:
            params = await read_params(request)
            record.params = params.values
            record.result = await self._run(record.method, method, params)
        except ApiError as error:
            record.error = error
        self._log.records.append(record)
        self._log.changed.notify()
        return _answer(record.result, record.error)

    async def _run(self, name: str, method: Method | None, params: Params) -> Any:
        fault = self._injected_fault(name)
        if fault is not None:
            raise fault
        if method is None:
            raise ApiError(404, "Not Found")
        return await call_method(method, self.world, params)

    def _injected_fault(self, name: str) -> ApiError | None:
        queued = self._faults.get(name.lower())
        if queued:
            return queued.popleft()
        if self._outage is not None and self._outage.covers(name):
            return self._outage.error
        return None

    async def _handle_file(self, request: web.Request) -> web.Response:
        stored = self.world.file_by_path(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return _answer(error=ApiError(404, "Not Found"))
        stall = self._stalled.get(stored.file_id)
        if stall is not None:
            await stall.wait()
        return web.Response(body=stored.data, content_type="application/octet-stream")

    def _summary(self) -> str:
        counts: dict[str, int] = {}
        for record in self._log.records:
            label = record.method if record.ok else f"{record.method}[{record.error}]"
            counts[label] = counts.get(label, 0) + 1
        return ", ".join(f"{name}×{n}" for name, n in counts.items()) or "nothing"


@web.middleware
async def _loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuses requests addressed to another host: the token is in the source, so a page of
    any site that rebinds its name to 127.0.0.1 could otherwise drive the bot."""
    if not addressed_to_loopback(request):
        return _answer(error=ApiError(403, "Forbidden: only requests to 127.0.0.1 are served"))
    return await handler(request)


def _answer(result: Any = None, error: ApiError | None = None) -> web.Response:
    if error is not None:
        return web.json_response(error.to_json(), status=error.status)
    return web.json_response({"ok": True, "result": result})
