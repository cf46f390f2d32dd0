"""What every handler gets besides the update: the service, the settings and the helpers.

PTB hands handlers a ``context``; :class:`BotContext` adds typed access to the bot's
dependencies (kept, unpersisted, in ``bot_data``), to the group facts (``chat_data``) and to
a person's search preferences (``user_data``), so handlers never dig in untyped dicts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot

from bot.chats import ChatFacts, present_groups
from bot.config import TelegramConfig
from bot.permissions import Permissions
from bot.phrases import Texts, texts_for
from bot.results.continuations import Pages
from bot.results.relevance import Relevance
from bot.throttle import QueryLimiter, Turns
from bot.updates.receipts import Deliveries
from indexer.service import IndexService

_DEPS_KEY = "deps"


@dataclass
class UserPrefs:
    """The ``user_data`` of a person: the one group they narrowed searches to, if any, and
    the groups the bot has seen them write in (asked about first when they search privately).
    """

    only_group: int | None = None
    seen_in: frozenset[int] = frozenset()

    def saw_in(self, chat_id: int) -> None:
        if chat_id not in self.seen_in:
            self.seen_in = self.seen_in | {chat_id}


@dataclass
class Deps:
    """The bot's long-lived helpers, built once with the Application."""

    service: IndexService
    config: TelegramConfig
    permissions: Permissions
    pages: Pages
    limiter: QueryLimiter
    turns: Turns
    relevance: Relevance
    #: The running /reindex of each collection, cancelled when the bot stops.
    reindexes: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    #: Which updates could not store what they must (so they are not confirmed to Telegram).
    deliveries: Deliveries = field(init=False)

    def __post_init__(self) -> None:
        self.deliveries = Deliveries(lambda: self.service.writes_committed)


class BotContext(CallbackContext[ExtBot[None], UserPrefs, ChatFacts, dict[str, Any]]):
    """The ``context`` of every handler of this bot."""

    @property
    def deps(self) -> Deps:
        return deps_of(self.application)

    @property
    def service(self) -> IndexService:
        return self.deps.service

    @property
    def settings(self) -> TelegramConfig:
        return self.deps.config

    @property
    def group(self) -> ChatFacts:
        """The facts of the group the update comes from (for group updates only)."""
        assert self.chat_data is not None, "not an update from a chat"
        return self.chat_data

    @property
    def group_facts(self) -> Mapping[int, ChatFacts]:
        """Facts of every group the bot has seen, by chat id."""
        return self.application.chat_data

    async def searchable_groups(self, user_id: int) -> list[int]:
        """The indexed groups the person may search now: those they are a member of."""
        known = present_groups(await self.service.collections(), self.group_facts)
        seen_in = self.user_data.seen_in if self.user_data is not None else frozenset()
        return await self.deps.permissions.groups_of(user_id, known, seen_in)

    async def still_searchable(self, user_id: int, groups: Sequence[int]) -> tuple[int, ...]:
        """Those of ``groups`` the person may search now, asked again for every page.

        A continued search was allowed when it started; a person kicked since, or a group the
        bot left since, must not yield one more picture. Same rule and cache as a fresh search.
        """
        present = set(present_groups(await self.service.collections(), self.group_facts))
        candidates = [chat_id for chat_id in groups if chat_id in present]
        return tuple(await self.deps.permissions.groups_of(user_id, candidates))

    async def personal_groups(self, user_id: int) -> tuple[int, ...]:
        """What a private or inline search covers: the group chosen with /groups, else all."""
        groups = await self.searchable_groups(user_id)
        chosen = self.user_data.only_group if self.user_data is not None else None
        return (chosen,) if chosen in groups else tuple(groups)


BotApplication = Application[Any, BotContext, UserPrefs, ChatFacts, dict[str, Any], Any]


def install_deps(application: BotApplication, deps: Deps) -> None:
    application.bot_data[_DEPS_KEY] = deps


def deps_of(application: BotApplication) -> Deps:
    deps: Deps = application.bot_data[_DEPS_KEY]
    return deps


def texts_of(update: object) -> Texts:
    """The catalogue in the language of the person behind an update (English by default)."""
    user = update.effective_user if isinstance(update, Update) else None
    return texts_for(user.language_code if user is not None else None)
