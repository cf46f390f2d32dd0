"""The webhook server: Telegram POSTs each update; the answer says whether it was stored.

Telegram keeps an update and sends it again until its request is answered 2xx, so the answer
is sent only after the handlers ran to the end (a picture is committed to SQLite first). An
update that could not be stored (a full disk) is answered 503, and Telegram retries it later.

Before anything else, the secret header is checked and the announced size is capped: a request
without the secret, or bigger than any update (1 MiB), is refused and its body never kept; a big
one is never read.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

import tornado.httpserver
import tornado.web
from telegram import Update

from bot.context import BotApplication, deps_of
from bot.updates.parsing import parse_update

log = logging.getLogger(__name__)

#: Telegram sends the webhook's secret token in this header with every update.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: No update comes near this size (a message holds at most 4096 characters plus entities).
MAX_UPDATE_BYTES = 1024 * 1024


class WebhookServer:
    """Listens on ``listen:port`` for updates POSTed to ``/url_path``, until ``stop``."""

    def __init__(
        self, application: BotApplication, *, url_path: str, secret: str, concurrency: int
    ) -> None:
        self._application = application
        self._routes = [
            (
                "/" + url_path.strip("/") + "/?" if url_path.strip("/") else "/",
                _UpdateRequest,
                {"server": self},
            )
        ]
        self.secret = secret.encode()
        self.slots = asyncio.Semaphore(concurrency)
        self._server: tornado.httpserver.HTTPServer | None = None
        self._in_flight: dict[int, asyncio.Future[bool]] = {}
        #: Per update being handled: settles True once only its answer is left (the HTTP
        #: answer need not wait for it), or with the handling's own outcome.
        self._stored: dict[int, asyncio.Future[bool]] = {}

    def start(self, listen: str, port: int) -> None:
        app = tornado.web.Application(self._routes)
        self._server = app.listen(port, address=listen, max_body_size=MAX_UPDATE_BYTES)

    async def stop(self, grace: float) -> None:
        """Takes no new requests, lets those being handled finish (up to ``grace`` seconds)."""
        if self._server is None:
            return
        self._server.stop()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight.values()), timeout=grace)
        await self._server.close_all_connections()
        self._server = None

    async def deliver(self, update: Update) -> bool:
        """Handles ``update``; whether it was stored (and may be confirmed).

        Telegram sends an update again when its answer is slow; a copy arriving while the first
        is still being handled waits for that one's outcome instead of running twice.
        """
        running = self._in_flight.get(update.update_id)
        if running is None:
            stored = asyncio.get_running_loop().create_future()
            running = asyncio.ensure_future(self._handle(update, stored))
            self._in_flight[update.update_id] = running
            self._stored[update.update_id] = stored
            running.add_done_callback(lambda done: _settle(stored, done))
            running.add_done_callback(lambda _: self._in_flight.pop(update.update_id, None))
            running.add_done_callback(lambda _: self._stored.pop(update.update_id, None))
        return await asyncio.shield(self._stored[update.update_id])

    async def _handle(self, update: Update, stored: asyncio.Future[bool]) -> bool:
        """Runs the handlers; ``stored`` is settled as soon as only the answer is left."""
        async with self.slots:
            deliveries = deps_of(self._application).deliveries
            return await deliveries.handle(self._application, update, lambda: _settle_true(stored))

    def parse(self, body: bytes) -> Update | None:
        """The update in ``body``, or None (logged) when it is malformed."""
        try:
            return parse_update(json.loads(body), self._application.bot)
        except Exception as exc:
            log.warning("skipped a malformed update (%s): %.200r", exc, body)
            return None


@tornado.web.stream_request_body
class _UpdateRequest(tornado.web.RequestHandler):
    """One POSTed update. Streaming the body lets ``prepare`` refuse a request before it."""

    def initialize(self, server: WebhookServer) -> None:
        self._server = server
        self._body = bytearray()
        self._forged = False

    def prepare(self) -> None:
        """Judges the request by its headers: only a small body is ever read.

        A request without the secret is refused; when its body is small it is read (and
        dropped) first, so the client sees the 403 instead of a connection closed under it.
        """
        if self.request.method != "POST":
            raise tornado.web.HTTPError(405)
        secret = self.request.headers.get(SECRET_HEADER, "").encode()
        self._forged = not hmac.compare_digest(secret, self._server.secret)
        length = self.request.headers.get("Content-Length", "")
        if self._forged and not (length.isdigit() and int(length) <= MAX_UPDATE_BYTES):
            raise tornado.web.HTTPError(403)
        if not length.isdigit():
            raise tornado.web.HTTPError(411)
        if int(length) > MAX_UPDATE_BYTES:
            raise tornado.web.HTTPError(413)

    def data_received(self, chunk: bytes) -> None:
        if not self._forged:
            self._body += chunk

    async def post(self) -> None:
        if self._forged:
            raise tornado.web.HTTPError(403)
        update = self._server.parse(bytes(self._body))
        if update is not None and not await self._server.deliver(update):
            raise tornado.web.HTTPError(503)
        self.set_status(200)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Refused requests are expected; only real failures are logged (by the handlers)."""
        if not isinstance(value, tornado.web.HTTPError):
            super().log_exception(typ, value, tb)


def _settle_true(stored: asyncio.Future[bool]) -> None:
    if not stored.done():
        stored.set_result(True)


def _settle(stored: asyncio.Future[bool], handled: asyncio.Future[bool]) -> None:
    """Gives ``stored`` the outcome of the handling, unless it was settled early."""
    if stored.done():
        return
    if handled.cancelled():
        stored.cancel()
    elif handled.exception() is not None:
        stored.set_exception(handled.exception())  # type: ignore[arg-type]
    else:
        stored.set_result(handled.result())
