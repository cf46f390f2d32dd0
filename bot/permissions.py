"""Who may search which group, and who may administer it: asked of Telegram, cached briefly.

A person may search a group's pictures only while they are a member of it (checked with
getChatMember, so leaving a group ends access within ``membership_cache_seconds``). Admin
commands need a chat administrator (getChatAdministrators) or an id from
``telegram.admin_ids``.

Telegram cannot list a person's groups, so finding them costs one getChatMember per group
asked about. Groups where the bot has seen the person write are asked about first and always;
of the others, at most :data:`UNSEEN_LOOKUPS` not yet cached per request, a few at a time. A
stranger's message thus costs a handful of calls however many groups the bot is in, and
answers (no included) are cached, so the next request asks about the next groups.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from typing import Generic, TypeVar

from telegram import Bot, ChatMember, ChatMemberRestricted, Message
from telegram.error import BadRequest, Forbidden

Key = TypeVar("Key")
Value = TypeVar("Value")

#: Groups the person was never seen in that one request may ask Telegram about.
UNSEEN_LOOKUPS = 8
#: getChatMember calls of one request in flight at once.
CONCURRENT_LOOKUPS = 4

_MEMBER_STATUSES = frozenset(
    {ChatMember.OWNER, ChatMember.ADMINISTRATOR, ChatMember.MEMBER, ChatMember.RESTRICTED}
)


def is_present(member: ChatMember) -> bool:
    """Whether a chat member is in the chat (restricted members count, leavers don't)."""
    return member.status in _MEMBER_STATUSES and (
        not isinstance(member, ChatMemberRestricted) or member.is_member
    )


class _TtlCache(Generic[Key, Value]):
    """Remembers answers for ``ttl`` seconds; expired ones are dropped as new ones come in, so
    a stream of strangers does not grow it without bound."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[Key, tuple[float, Value]] = OrderedDict()  # oldest first

    def __contains__(self, key: Key) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Value | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._clock():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: Key, value: Value) -> None:
        now = self._clock()
        while self._entries and next(iter(self._entries.values()))[0] <= now:
            self._entries.popitem(last=False)
        self._entries.pop(key, None)
        self._entries[key] = (now + self._ttl, value)


class Permissions:
    """Membership and admin checks against Telegram, cached for ``ttl`` seconds."""

    def __init__(
        self,
        bot: Bot,
        admin_ids: frozenset[int],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bot = bot
        self._admin_ids = admin_ids
        self._members: _TtlCache[tuple[int, int], bool] = _TtlCache(ttl, clock)
        self._admins: _TtlCache[int, frozenset[int]] = _TtlCache(ttl, clock)

    async def is_member(self, chat_id: int, user_id: int) -> bool:
        """Whether the person is in the group now (restricted members count, leavers don't)."""
        cached = self._members.get((chat_id, user_id))
        if cached is not None:
            return cached
        try:
            member = await self._bot.get_chat_member(chat_id, user_id)
        except (BadRequest, Forbidden):
            answer = False  # unknown user, or a chat the bot is no longer in
        else:
            answer = is_present(member)
        self._members.put((chat_id, user_id), answer)
        return answer

    async def groups_of(
        self, user_id: int, chat_ids: Sequence[int], seen_in: Collection[int] = ()
    ) -> list[int]:
        """The groups among ``chat_ids`` that the person is a member of, in the same order.

        Groups in ``seen_in`` (where the person was seen) and cached answers are always
        covered; of the other groups at most :data:`UNSEEN_LOOKUPS` are asked about.
        """
        unseen = [
            chat_id
            for chat_id in chat_ids
            if chat_id not in seen_in and (chat_id, user_id) not in self._members
        ]
        skipped = set(unseen[UNSEEN_LOOKUPS:])
        asked = [chat_id for chat_id in chat_ids if chat_id not in skipped]
        gate = asyncio.Semaphore(CONCURRENT_LOOKUPS)

        async def ask(chat_id: int) -> bool:
            async with gate:
                return await self.is_member(chat_id, user_id)

        answers = await asyncio.gather(*(ask(chat_id) for chat_id in asked))
        return [chat_id for chat_id, member in zip(asked, answers, strict=True) if member]

    async def is_admin(self, chat_id: int, user_id: int) -> bool:
        """Whether the person administers the group, or is one of the bot's own admins."""
        if user_id in self._admin_ids:
            return True
        admins = self._admins.get(chat_id)
        if admins is None:
            administrators = await self._bot.get_chat_administrators(chat_id)
            admins = frozenset(admin.user.id for admin in administrators)
            self._admins.put(chat_id, admins)
        return user_id in admins

    async def may_administer(self, message: Message) -> bool:
        """Whether the sender of a group message may use admin commands there.

        An anonymous admin writes as the group itself (``sender_chat`` is the group).
        """
        if message.sender_chat is not None:
            return message.sender_chat.id == message.chat.id
        return message.from_user is not None and await self.is_admin(
            message.chat.id, message.from_user.id
        )
