"""Telegram's flood limits, applied to what they limit: messages, not questions.

Telegram lets a bot send about 20 messages a minute to one group (and 30 a second overall);
PTB's ``AIORateLimiter`` keeps to that by making every request that names a group wait for
the group's budget, reads included. A ``getChatMember`` about a flooded group would then wait
behind that group's queued answers, and a private search by one of its members with it.
Reads (``get…`` methods) are not messages, so here they skip the per-chat queues; they keep
the retry on "Too Many Requests".
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import AIORateLimiter

from bot.updates.receipts import answering_starts

_READ_PREFIX = "get"
#: What the Bot API answers (PTB's JSONDict).
_Answer = bool | dict[str, Any] | list[dict[str, Any]]


class MessageRateLimiter(AIORateLimiter):
    """``AIORateLimiter`` whose per-chat and overall limits apply to sending, not to reads."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, _Answer]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> _Answer:
        if not endpoint.startswith(_READ_PREFIX):
            answering_starts()  # handlers store before they send: only the answer is left
        if endpoint.startswith(_READ_PREFIX):
            # Without a chat id, the parent applies neither limit but still retries.
            data = {name: value for name, value in data.items() if name != "chat_id"}
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )
