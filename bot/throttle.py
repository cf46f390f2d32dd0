"""A per-person limit on searches, so one person cannot keep the model busy for everyone."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

_WINDOW_SECONDS = 60.0


class QueryLimiter:
    """At most ``per_minute`` searches per person in any sliding minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._clock = clock
        self._recent: dict[int, deque[float]] = {}

    def acquire(self, user_id: int) -> int:
        """Counts a search and returns 0, or returns the seconds to wait (counting nothing)."""
        now = self._clock()
        recent = self._recent.setdefault(user_id, deque())
        while recent and recent[0] <= now - _WINDOW_SECONDS:
            recent.popleft()
        if len(recent) >= self._per_minute:
            return max(1, math.ceil(recent[0] + _WINDOW_SECONDS - now))
        recent.append(now)
        return 0
