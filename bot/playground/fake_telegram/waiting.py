"""Wake-ups for coroutines that wait on the fake's state.

Long polls, ``wait_for`` and ``wait_until_updates_consumed`` all follow the same pattern:
check a condition, and if it does not hold yet, sleep until *something* changes and check
again. ``Signal`` is that "something changed" broadcast; ``wait_until`` is the loop.
"""

import asyncio
import time
from collections.abc import Callable


class Signal:
    """A broadcast "state changed" notice that any number of coroutines can await.

    Each ``notify`` wakes everyone waiting at that moment and arms a fresh event, so a
    waiter never misses a change that happens between its check and its wait (there is no
    ``await`` between the two in single-threaded asyncio).
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wakes every current waiter."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> bool:
        """Sleeps until the next ``notify`` or ``timeout`` seconds; says whether it was woken."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True


async def wait_until(condition: Callable[[], bool], signal: Signal, timeout: float) -> bool:
    """Waits until ``condition()`` holds, re-checking it whenever ``signal`` fires.

    Returns whether the condition held before ``timeout`` seconds passed, so callers can word
    their own timeout error.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await signal.wait(remaining)
    return True
