"""The real bot, served over HTTP by FakeTelegram, and what a test needs to drive it.

:class:`BotWorld` runs the real Application and IndexService (with the tiny model) against the
fake, posts pictures as test users and reads back the pictures the bot answers with. Nothing of
PTB is patched: the bot only has its base URLs pointed at the fake. The pytest fixtures that
build one are in ``bot_fixtures``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import make_config

from bot.app import build_application, serving
from bot.chats import collection_of
from bot.config import BotConfig, TelegramConfig
from bot.context import BotApplication
from bot.playground.fake_telegram import CallRecord, Chat, FakeTelegram, User
from indexer.config import ModelConfig
from indexer.model.embedder import Embedder
from indexer.service import IndexService
from indexer.synthetic import ShapeSpec

Picture = tuple[bytes, ShapeSpec]


@dataclass(frozen=True)
class Posted:
    """A picture a test user posted: where, in which message, and what it shows."""

    chat: Chat
    message_id: int
    file_id: str
    spec: ShapeSpec | None


@dataclass(frozen=True)
class Shown:
    """A picture the bot answered with: its file id, its caption, and what was posted."""

    file_id: str
    caption: str
    posted: Posted | None

    @property
    def spec(self) -> ShapeSpec | None:
        return self.posted.spec if self.posted else None


@dataclass
class BotWorld:
    """FakeTelegram, the bot's config, and the bot while it runs (see ``running``)."""

    fake: FakeTelegram
    config: BotConfig
    embedder: Embedder
    service: IndexService | None = None
    application: BotApplication | None = None
    posted: dict[str, Posted] = field(default_factory=dict)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Opens the service, builds the real Application and serves until the block ends."""
        self.service = await IndexService.open(self.config.indexer, self.embedder)
        self.application = build_application(self.config, self.service)
        async with serving(self.application, self.config.telegram):
            yield

    # Posting

    def post_photo(
        self, chat: Chat, user: User, picture: Picture | bytes, **details: Any
    ) -> Posted:
        """The user posts a photo (``details`` as for ``FakeTelegram.send_photo``)."""
        data, spec = picture if isinstance(picture, tuple) else (picture, None)
        message_id = self.fake.send_photo(chat, user, data, **details)
        return self._remember(chat, message_id, spec)

    def post_album(self, chat: Chat, user: User, pictures: Sequence[Picture]) -> list[Posted]:
        """The user posts 2–10 photos as one album."""
        ids = self.fake.send_album(chat, user, [data for data, _ in pictures])
        return [
            self._remember(chat, message_id, spec)
            for message_id, (_, spec) in zip(ids, pictures, strict=True)
        ]

    def _remember(self, chat: Chat, message_id: int, spec: ShapeSpec | None) -> Posted:
        message = self.fake.world.message(chat.id, message_id)
        assert message is not None
        posted = Posted(chat, message_id, message["photo"][-1]["file_id"], spec)
        self.posted[posted.file_id] = posted
        return posted

    async def until_indexed(self, chat: Chat, count: int, timeout: float = 20.0) -> None:
        """Waits until ``count`` pictures of the chat were handed to the indexer and embedded."""
        service = self._service()
        collection = collection_of(chat.id)

        async def recorded() -> bool:
            if collection not in await service.collections():
                return False
            stats = await service.stats(collection)
            return stats.images + stats.reposts + stats.failed + stats.pending >= count

        await until(recorded, timeout)
        await asyncio.wait_for(service.wait_idle(), timeout)

    async def until_handled(self, timeout: float = 10.0) -> None:
        """Waits until the bot has fetched every queued update and finished handling it."""
        assert self.application is not None, "the bot is not running"
        await self.fake.wait_until_updates_consumed(timeout)
        await asyncio.wait_for(self.application.update_queue.join(), timeout)

    async def until_member_status(self, chat: Chat, *, present: bool) -> None:
        """Waits until the bot has taken note of being added to or removed from ``chat``."""
        assert self.application is not None

        async def noted() -> bool:
            facts = self.application.chat_data.get(chat.id) if self.application else None
            return facts is not None and facts.present == present

        await until(noted)

    async def indexed_count(self, chat: Chat) -> int:
        service = self._service()
        if collection_of(chat.id) not in await service.collections():
            return 0
        return (await service.stats(collection_of(chat.id))).images

    # What the bot answered

    async def pictures_in(self, chat: Chat, timeout: float = 10.0) -> list[Shown]:
        """The next pictures the bot sent to ``chat``: an album, or a single photo."""
        call = await first_call(self.fake, ["sendMediaGroup", "sendPhoto"], chat, timeout)
        if call.method == "sendPhoto":
            items = [{"media": call.params["photo"], "caption": call.params.get("caption", "")}]
        else:
            items = call.params["media"]
        return [
            Shown(item["media"], item.get("caption", ""), self.posted.get(item["media"]))
            for item in items
        ]

    async def text_in(self, chat: Chat, timeout: float = 10.0) -> CallRecord:
        """The next text message the bot sent to ``chat``, results footers left out."""
        return await self.fake.wait_for(
            "sendMessage", lambda c: c.chat_id == chat.id and not is_footer(c), timeout
        )

    async def footer_in(self, chat: Chat, timeout: float = 10.0) -> CallRecord:
        """The next results footer (the message with the More button) sent to ``chat``."""
        return await self.fake.wait_for(
            "sendMessage", lambda c: c.chat_id == chat.id and is_footer(c), timeout
        )

    def _service(self) -> IndexService:
        assert self.service is not None, "the bot is not running"
        return self.service


#: Makes a bot (not started) with ``[telegram]`` overrides: the ``new_world`` fixture.
WorldFactory = Callable[..., BotWorld]


def is_footer(call: CallRecord) -> bool:
    """Whether a sendMessage call is a results footer with a More button."""
    keyboard = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
    return any(b.get("callback_data", "").startswith("more:") for row in keyboard for b in row)


def more_data(footer: CallRecord) -> str:
    """The callback data of the More button under a results footer."""
    data: str = footer.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    return data


def pictures_of(pictures: Sequence[Picture], caption: str) -> list[Picture]:
    """The pictures showing what ``caption`` (e.g. "a red circle") describes."""
    return [picture for picture in pictures if picture[1].caption_en == caption]


def bot_config(
    fake: FakeTelegram, data_dir: Path, model: ModelConfig, **telegram: Any
) -> BotConfig:
    """A config for the bot talking to ``fake``, with the tiny model and ``telegram`` overrides."""
    return BotConfig(
        telegram=TelegramConfig(
            token=fake.token,
            base_url=fake.base_url,
            base_file_url=fake.base_file_url,
            poll_timeout_seconds=1,
            **telegram,
        ),
        indexer=make_config(data_dir, model),
    )


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Waits until ``condition()`` holds, checking it every few milliseconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition {condition.__name__} still false after {timeout}s")
        await asyncio.sleep(0.02)


async def first_call(
    fake: FakeTelegram, methods: Sequence[str], chat: Chat, timeout: float
) -> CallRecord:
    """The next successful call to ``chat`` by any of ``methods`` (whichever comes first)."""
    waits = [
        asyncio.create_task(fake.wait_for(m, lambda c: c.chat_id == chat.id, timeout))
        for m in methods
    ]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in waits:
        task.cancel()
    outcomes = await asyncio.gather(*waits, return_exceptions=True)
    calls = [outcome for outcome in outcomes if isinstance(outcome, CallRecord)]
    if not calls:
        raise next(o for o in outcomes if isinstance(o, TimeoutError))
    return min(calls, key=lambda call: call.at)
