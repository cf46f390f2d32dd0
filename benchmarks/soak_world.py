"""The people of the soak benchmark: groups, users, what they do, and what they must (not) see.

Every action goes through the fake Bot API as an update; every answer the bot sends is read
back from the fake's call log (:meth:`Inbox.follow`) and checked as it arrives: a group sees
only its own pictures; a private chat or inline query only pictures of groups the asker is in
(a kicked member's access may last ``membership_ttl`` seconds, the bot's documented cache);
never a picture that was forgotten, or whose poster opted out, before the question was asked.
"""

from __future__ import annotations

import asyncio
import io
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

# The fake Bot API (the playground serves it to browsers too).
from bot.playground.fake_telegram import CallRecord, Chat, FakeTelegram, User
from indexer.synthetic import ALL_SPECS, draw_shape

#: Methods by which the bot answers in a chat.
ANSWERS = frozenset({"sendmessage", "sendmediagroup", "sendphoto"})
#: How long an asker waits for an answer before counting it as missing.
ANSWER_TIMEOUT = 30.0
#: Side of the posted pictures, in pixels (small: the soak is about the bot, not the model).
PICTURE_SIZE = 96


@dataclass(frozen=True)
class Post:
    """A picture a user posted in a group."""

    group: int
    poster: int
    message_id: int
    file_id: str
    data: bytes
    at: float


@dataclass
class Truth:
    """What the people did, to judge what the bot shows: memberships, kicks, opt-outs."""

    members: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    kicked_at: dict[tuple[int, int], float] = field(default_factory=dict)
    opted_out_at: dict[tuple[int, int], float] = field(default_factory=dict)
    forgotten_at: dict[str, float] = field(default_factory=dict)
    posts: dict[str, Post] = field(default_factory=dict)

    def may_see(
        self, group: int | None, asker: int | None, asked_at: float, post: Post, ttl: float
    ) -> str:
        """Why ``asker`` must not see ``post`` when asking at ``asked_at`` in ``group`` (None:
        a private chat or inline query); "" if they may."""
        forgotten = self.forgotten_at.get(post.file_id)
        if forgotten is not None and forgotten < asked_at:
            return "a forgotten picture"
        opted_out = self.opted_out_at.get((post.group, post.poster))
        if opted_out is not None and opted_out < asked_at:
            return "a picture of a user who opted out"
        if group is not None:
            return "" if post.group == group else "a picture of another group"
        if asker is None or asker not in self.members[post.group]:
            return "a picture of a group the asker never was in"
        kicked = self.kicked_at.get((post.group, asker))
        if kicked is not None and kicked + ttl < asked_at:
            return "a picture of a group the asker was kicked from"
        return ""


@dataclass
class Latency:
    """Answer latencies per chat, and questions that got no answer in time."""

    seconds: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    missing: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    #: What each unanswered question was ("/search in group -12", ...), for the report.
    unanswered: list[str] = field(default_factory=list)


class Inbox:
    """The bot's calls, sorted by chat (and inline query) as they arrive at the fake."""

    def __init__(self, fake: FakeTelegram) -> None:
        self._fake = fake
        self._read = 0
        self.by_chat: dict[int, list[CallRecord]] = defaultdict(list)
        self.inline: dict[str, CallRecord] = {}
        self.callbacks: dict[str, CallRecord] = {}
        self.arrived = asyncio.Event()

    def follow(self) -> list[CallRecord]:
        """Sorts the calls made since the last look; returns them."""
        new = self._fake.calls_since(self._read)
        self._read += len(new)
        for call in new:
            if call.method.lower() == "answerinlinequery":
                self.inline[str(call.params.get("inline_query_id"))] = call
            elif call.method.lower() == "answercallbackquery":
                self.callbacks[str(call.params.get("callback_query_id"))] = call
            elif isinstance(call.chat_id, int):
                self.by_chat[call.chat_id].append(call)
        if new:
            self.arrived.set()
            self.arrived = asyncio.Event()
        return new

    async def answer(self, chat_id: int, since: float, position: int) -> tuple[CallRecord, int]:
        """The first answer to ``chat_id`` at or after ``since``, from ``position`` on."""
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while True:
            calls = self.by_chat[chat_id]
            for index in range(position, len(calls)):
                call = calls[index]
                if call.ok and call.method.lower() in ANSWERS and call.at >= since:
                    return call, index + 1
            position = len(calls)
            await self._wait(deadline)

    async def inline_answer(self, query_id: str) -> CallRecord:
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while query_id not in self.inline:
            await self._wait(deadline)
        return self.inline.pop(query_id)

    async def callback_answer(self, query_id: str) -> CallRecord:
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while query_id not in self.callbacks:
            await self._wait(deadline)
        return self.callbacks.pop(query_id)

    async def _wait(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        await asyncio.wait_for(self.arrived.wait(), left)


def shown_file_ids(call: CallRecord) -> list[str]:
    """The pictures (file ids) a call shows."""
    method = call.method.lower()
    if method == "sendmediagroup":
        return [str(item.get("media")) for item in call.params.get("media", [])]
    if method == "sendphoto" and isinstance(call.params.get("photo"), str):
        return [call.params["photo"]]
    if method == "answerinlinequery":
        return [str(r.get("photo_file_id")) for r in call.params.get("results", [])]
    return []


def more_button(call: CallRecord) -> str | None:
    """The callback data of a More button under a message, if it has one."""
    keyboard = (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
    for row in keyboard:
        for button in row:
            if str(button.get("callback_data", "")).startswith("more:"):
                return str(button["callback_data"])
    return None


@dataclass
class Soak:
    """The world and the people acting in it, for ``seconds``."""

    fake: FakeTelegram
    seconds: float
    groups: list[Chat]
    users: list[User]
    membership_ttl: float
    seed: int = 0
    truth: Truth = field(default_factory=Truth)
    latency: Latency = field(default_factory=Latency)
    violations: list[str] = field(default_factory=list)
    #: Chats where a flooder acts (their own latency is reported apart).
    flooded: set[int] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    started: float = 0.0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.inbox = Inbox(self.fake)
        #: The oldest question of each chat still waiting for its answer.
        self._asked_at: dict[int, float] = {}
        self._pressed: set[tuple[int, int]] = set()
        self._inline_askers: dict[str, tuple[int, float]] = {}

    # Building the world

    @classmethod
    def build(
        cls, fake: FakeTelegram, seconds: float, groups: int, users: int, membership_ttl: float
    ) -> Soak:
        chats = [fake.add_group(f"Soak group {n}") for n in range(groups)]
        people = [fake.add_user(f"User{n}", username=f"user{n}") for n in range(users)]
        soak = cls(fake, seconds, chats, people, membership_ttl)
        for n, user in enumerate(people):
            homes = {n % groups} | ({(n * 7 + 3) % groups} if n % 4 == 0 else set())
            for home in homes:
                fake.set_member(chats[home], user, "member")
                soak.truth.members[chats[home].id].add(user.id)
        fake.set_member(chats[0], people[0], "creator")
        return soak

    def members_of(self, group: Chat) -> list[User]:
        """Users in the group now (not kicked)."""
        return [
            u
            for u in self.users
            if u.id in self.truth.members[group.id] and (group.id, u.id) not in self.truth.kicked_at
        ]

    # Checking what the bot shows

    def check(self, calls: list[CallRecord]) -> None:
        """Checks every picture shown in ``calls`` against :meth:`Truth.may_see`."""
        for call in calls:
            file_ids = shown_file_ids(call)
            if not file_ids:
                continue
            group: int | None = None
            if call.method.lower() == "answerinlinequery":
                asker, asked_at = self._inline_askers.get(
                    str(call.params.get("inline_query_id")), (None, call.at)
                )
            else:
                chat_id = call.chat_id
                assert isinstance(chat_id, int)
                asked_at = self._asked_at.get(chat_id, call.at)
                asker = chat_id if chat_id > 0 else None
                group = None if chat_id > 0 else chat_id
            for file_id in file_ids:
                post = self.truth.posts.get(file_id)
                if post is None:
                    self.violations.append(f"{call.method}: a picture nobody posted ({file_id})")
                    continue
                why = self.truth.may_see(group, asker, asked_at, post, self.membership_ttl)
                if why:
                    self.violations.append(f"{call.method} for {asker or group}: {why}")
                self.counts["pictures shown"] += 1

    async def watch(self, stop: asyncio.Event) -> None:
        """Reads and checks the bot's calls until ``stop`` (every 20 ms)."""
        while not stop.is_set():
            self.check(self.inbox.follow())
            await asyncio.sleep(0.02)
        self.check(self.inbox.follow())

    # Acting

    def picture(self) -> bytes:
        spec = self.rng.choice(ALL_SPECS)
        buffer = io.BytesIO()
        draw_shape(spec, random.Random(self.rng.random()), size=PICTURE_SIZE).save(
            buffer, "JPEG", quality=85
        )
        return buffer.getvalue()

    def post_photo(self, group: Chat, user: User, album: int = 1) -> None:
        datas = [self.picture() for _ in range(album)]
        now = time.monotonic()
        if album == 1:
            ids = [self.fake.send_photo(group, user, datas[0])]
        else:
            ids = self.fake.send_album(group, user, datas)
        for message_id, data in zip(ids, datas, strict=True):
            message = self.fake.world.message(group.id, message_id)
            assert message is not None
            file_id = message["photo"][-1]["file_id"]
            self.truth.posts[file_id] = Post(group.id, user.id, message_id, file_id, data, now)
        self.counts["pictures posted"] += album

    async def ask(self, chat: Chat, user: User, text: str) -> CallRecord | None:
        """Sends ``text`` and waits for the answer, timing it."""
        return await self.timed(
            chat,
            lambda: self.fake.send_text(chat, user, text),
            f"{text.split(' ')[0]} by {user.id}",
        )

    async def timed(self, chat: Chat, act: Callable[[], object], what: str) -> CallRecord | None:
        """Does ``act`` (which sends an update in ``chat``) and waits for the answer, timing it."""
        position = len(self.inbox.by_chat[chat.id])
        asked = time.monotonic()
        self._asked_at.setdefault(chat.id, asked)
        act()
        try:
            answer, _ = await self.inbox.answer(chat.id, asked, position)
        except TimeoutError:
            self.latency.missing[chat.id] += 1
            self.latency.unanswered.append(f"{what} in chat {chat.id}")
            return None
        self._asked_at.pop(chat.id, None)
        self.latency.seconds[chat.id].append(answer.at - asked)
        return answer

    async def press_more(self, chat: Chat, stranger: User | None = None) -> None:
        """Presses the More button under the chat's latest results, if not pressed yet: as the
        person who searched, or as ``stranger``, whom the bot answers with a quiet notice only
        (the button stays usable for its owner)."""
        footer = next(
            (
                call
                for call in reversed(self.inbox.by_chat[chat.id])
                if call.ok and isinstance(call.result, dict) and more_button(call)
            ),
            None,
        )
        if footer is None or (chat.id, footer.result["message_id"]) in self._pressed:
            return
        owner = self.owner_of(chat, footer)
        if owner is None:
            return
        message_id = int(footer.result["message_id"])
        data = more_button(footer)
        assert data is not None
        if stranger is not None and stranger != owner:
            self.counts["More presses by others"] += 1
            await self.quietly_answered(
                chat, lambda: self.fake.press_button(chat, stranger, message_id, data)
            )
            return
        self._pressed.add((chat.id, message_id))
        self.counts["More presses"] += 1
        await self.timed(
            chat,
            lambda: self.fake.press_button(chat, owner, message_id, data),
            f"More by its owner {owner.id} under {message_id}",
        )

    def owner_of(self, chat: Chat, footer: CallRecord) -> User | None:
        """Who may press a footer's More button: in a private chat its user; in a group the
        author of the question the footer replies to (a later page's footer replies to none,
        and several people's answers interleave in a group, so then nobody is sure)."""
        if chat.id > 0:
            return self.fake.world.users.get(chat.id)
        question = (footer.params.get("reply_parameters") or {}).get("message_id")
        message = self.fake.world.message(chat.id, int(question)) if question else None
        return None if message is None else self.fake.world.users.get(message["from"]["id"])

    async def quietly_answered(self, chat: Chat, press: Callable[[], str]) -> None:
        """Presses a button the bot must answer with a notice (answerCallbackQuery) only."""
        asked = time.monotonic()
        query_id = press()
        try:
            await self.inbox.callback_answer(query_id)
        except TimeoutError:
            self.latency.missing[chat.id] += 1
            self.latency.unanswered.append(f"someone else's More in chat {chat.id}")
            return
        self.latency.seconds[chat.id].append(time.monotonic() - asked)

    async def inline(self, user: User, text: str) -> None:
        asked = time.monotonic()
        query_id = self.fake.inline_query(user, text)
        self._inline_askers[query_id] = (user.id, asked)
        self.counts["inline queries"] += 1
        try:
            answer = await self.inbox.inline_answer(query_id)
        except TimeoutError:
            self.latency.missing[user.id] += 1
            return
        self.latency.seconds[user.id].append(answer.at - asked)

    def query_text(self) -> str:
        return self.rng.choice(ALL_SPECS).caption_en

    def running(self) -> bool:
        return time.monotonic() - self.started < self.seconds

    async def think(self, low: float = 1.0, high: float = 4.0) -> None:
        await asyncio.sleep(self.rng.uniform(low, high))
