"""The bot's small rules, without Telegram: relevance cut, paging keys, rate limit, links."""

from __future__ import annotations

import asyncio
from dataclasses import fields

import numpy as np

from bot.chats import message_link
from bot.phrases import EN, ZH, texts_for
from bot.results.continuations import Continuation, Pages
from bot.results.relevance import Query, Relevance
from bot.results.replies import MATCHED_TEXT_CHARS, byte_size, caption, duration
from bot.throttle import QueryLimiter, Refusal, Turns
from indexer.records import ImageRecord, PictureQuery
from indexer.service import SearchHit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def hit(score: float) -> SearchHit:
    """A hit with a score and nothing else known (relevance looks only at scores)."""
    return SearchHit(score, ImageRecord(**dict.fromkeys(f.name for f in fields(ImageRecord))))


def test_hits_far_below_the_best_one_are_cut() -> None:
    hits = [hit(0.31), hit(0.29), hit(0.22), hit(0.05)]

    assert [h.score for h in Relevance(0.1, None).keep(hits)] == [0.31, 0.29, 0.22]
    assert Relevance(0.1, 0.4).keep(hits) == []
    assert Relevance(0.1, None).keep([]) == []


def test_a_more_key_is_short_opaque_single_use_and_expires() -> None:
    clock = Clock()
    pages = Pages(ttl=60, clock=clock)
    continuation = Continuation(Query((-100,), text="a red circle"), frozenset({1, 2}), 7, -100)

    key = pages.save(continuation)
    other = pages.save(continuation)
    clock.now += 61

    assert len(key) <= 16 and "red" not in key
    assert pages.take(key, 7, -100) is None and pages.take(other, 7, -100) is None
    fresh = pages.save(continuation)
    assert pages.take(fresh, 8, -100) is None and pages.take(fresh, 7, -200) is None
    assert pages.take(fresh, 7, -100) == continuation
    assert pages.take(fresh, 7, -100) is None


def test_continuations_are_bounded_by_memory_and_keep_no_picture() -> None:
    vector = np.ones((1, 512), np.float32)
    picture = Continuation(Query((-100,), picture=PictureQuery(vector, "ab")), frozenset(), 7)
    pages = Pages(ttl=60, max_bytes=10 * picture.size_bytes)

    keys = [pages.save(picture) for _ in range(25)]

    assert picture.size_bytes < 4096
    assert len(pages) == 10 and pages.bytes_held <= 10 * picture.size_bytes
    assert pages.take(keys[0], 7) is None and pages.take(keys[-1], 7) == picture


def test_a_person_gets_queries_per_minute_in_any_sliding_minute() -> None:
    clock = Clock()
    limiter = QueryLimiter(per_minute=2, clock=clock)

    assert [limiter.acquire(7), limiter.acquire(7), limiter.acquire(8)] == [None] * 3
    clock.now += 30
    assert limiter.acquire(7) == Refusal(30, notify=True)
    assert limiter.acquire(7) == Refusal(30, notify=False)
    clock.now += 30
    assert limiter.acquire(7) is None


def test_a_person_is_told_to_slow_down_once_a_window_and_forgotten_when_idle() -> None:
    clock = Clock()
    limiter = QueryLimiter(per_minute=1, clock=clock)
    for user in range(1000):
        limiter.acquire(user)
    notices = 0
    for _ in range(200):
        refusal = limiter.acquire(5)
        notices += refusal is not None and refusal.notify
        clock.now += 0.25
    clock.now += 61

    assert notices == 1
    assert len(limiter) == 0


def test_message_links_follow_the_kind_of_group() -> None:
    assert message_link(-1001234567890, 42, None) == "https://t.me/c/1234567890/42"
    assert message_link(-1001234567890, 42, "shapes") == "https://t.me/shapes/42"
    assert message_link(-4001234, 42, None) is None


def test_durations_and_sizes_read_the_same_in_every_language() -> None:
    assert [duration(s) for s in (4.4, 185, 3720)] == ["4s", "3m05s", "1h02m"]
    assert [byte_size(b) for b in (812, 4300, 17 * 1024 * 1024)] == ["812 B", "4.2 KiB", "17.0 MiB"]


def test_chinese_language_codes_get_chinese_and_everything_else_english() -> None:
    assert texts_for("zh-hans") is ZH and texts_for("zh") is ZH and texts_for("ZH-HANT") is ZH
    assert texts_for("en") is EN and texts_for("de") is EN and texts_for(None) is EN


def test_a_long_caption_is_shown_cut_in_any_script() -> None:
    record = ImageRecord(
        **{**dict.fromkeys(f.name for f in fields(ImageRecord)), "collection": "cli"}
    )
    chinese = "上海人民广场夜景" * 13
    english = "a very long caption about the night view of the square " * 3

    shown_chinese = caption(EN, 1, SearchHit(1.0, record, chinese), {})
    shown_english = caption(EN, 1, SearchHit(1.0, record, english), {})

    assert f"🏷 {chinese[:50]}" in shown_chinese and shown_chinese.endswith("…")
    assert len(shown_chinese.splitlines()[-1]) <= MATCHED_TEXT_CHARS + 2
    assert f"🏷 {english[:50]}" in shown_english


async def test_a_persons_answers_take_turns_and_leave_nothing_behind() -> None:
    turns = Turns()
    order: list[str] = []

    async def answer(name: str, user: int, chat: int) -> None:
        async with turns.answering(user, chat):
            order.append(f"{name} starts")
            await asyncio.sleep(0.01)
            order.append(f"{name} ends")

    first = asyncio.create_task(answer("a1", 1, -100))
    await asyncio.sleep(0)
    assert turns.busy(-100) and not turns.busy(-200)
    await asyncio.gather(first, answer("a2", 1, -100), answer("b1", 2, -100))

    assert order.index("a1 ends") < order.index("a2 starts")
    assert order.index("b1 starts") < order.index("a1 ends")
    assert len(turns) == 0 and not turns.busy(-100)
