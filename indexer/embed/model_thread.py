"""The one thread that runs the model, serving queries before queued indexing work, and the
batcher that encodes the texts of queries arriving together in one call.

The thread and the batcher share one priority order and read best side by side; the seam to
the rest of the pipeline is :meth:`ModelThread.submit`.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

log = logging.getLogger(__name__)

Result = TypeVar("Result")

#: Model-thread priorities: a lower number runs first, equal ones in the order submitted.
#: Someone waits for a query's answer (a search, a query picture, a new tag) ...
QUERY = 0
#: ... while indexing work (picture calls, the caption backlog) can wait a few hundred ms.
BULK = 1
_STOP = 2
#: The stop put by :func:`_close_at_exit`: before every queued call.
_STOP_FIRST = -1

#: Model threads started and not closed yet, for :func:`_close_at_exit`.
_open_threads: weakref.WeakSet[ModelThread] = weakref.WeakSet()
_exit_hook = threading.Lock()
_exit_hook_registered = False


class ModelThread:
    """The one thread that runs the model, serving queries before queued indexing work.

    A ``ThreadPoolExecutor(1)`` serves calls in order, so a search arriving during a burst of
    uploads would wait for every picture call queued before it. Here every call carries a
    priority (:data:`QUERY` or :data:`BULK`) and a query waits only for the call already
    running. It is still one thread: model calls never compete for the CPU's cores, and torch
    is never entered from two threads at once.

    The thread is a daemon, so one never closed cannot keep the process alive; but the process
    must not end while it is inside torch (the thread is then stopped mid-way through C++ code
    and the process dies of SIGABRT: "terminate called without an active exception"). So at
    interpreter exit a thread still open is stopped as :func:`_close_at_exit` says.
    """

    def __init__(self, name: str = "clip-model") -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, _Job | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        _close_open_threads_at_exit()
        self._thread.start()
        _open_threads.add(self)

    def submit(self, priority: int, function: Callable[..., Result], *args: Any) -> Future[Result]:
        """Queues ``function(*args)``; raises RuntimeError once closed."""
        future: Future[Result] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the model thread is closed")
            self._queue.put((priority, next(self._order), _Job(future, function, args)))
        return future

    @property
    def queued(self) -> int:
        """Calls waiting for the thread (not counting the one running)."""
        return self._queue.qsize()

    def close(self) -> None:
        """Runs what is queued, then stops the thread."""
        self._stop(_STOP)

    def _stop(self, priority: int) -> None:
        """Stops the thread once the calls ahead of ``priority`` have run; waits for it."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put((priority, next(self._order), None))
        self._thread.join()
        _open_threads.discard(self)

    def _serve(self) -> None:
        while True:
            _, _, job = self._queue.get()
            if job is None:
                break
            if job.future.set_running_or_notify_cancel():  # False: the caller gave up
                try:
                    job.future.set_result(job.function(*job.args))
                except BaseException as exc:
                    job.future.set_exception(exc)
        # Left behind a stop put first (at exit): never run, their callers are gone.
        while not self._queue.empty():
            _, _, job = self._queue.get_nowait()
            if job is not None:
                job.future.cancel()


def _close_at_exit() -> None:
    """Stops every model thread still open as the interpreter ends (a service that was never
    closed: a start-up failure, an error path that skipped ``close``): the call in progress
    finishes, queued calls are dropped (nobody is left to take their answers). Registered with
    :mod:`atexit`, so it runs before the interpreter stops daemon threads."""
    for model in list(_open_threads):
        model._stop(_STOP_FIRST)


def _close_open_threads_at_exit() -> None:
    """Registers :func:`_close_at_exit` once, when the first thread starts: after torch was
    imported, so it runs before any exit handler torch registered (last in, first out)."""
    global _exit_hook_registered
    with _exit_hook:
        if not _exit_hook_registered:
            atexit.register(_close_at_exit)
            _exit_hook_registered = True


@dataclass(frozen=True)
class _Job:
    future: Future[Any]
    function: Callable[..., Any]
    args: tuple[Any, ...]


class TextBatcher:
    """Encodes the texts of queries that arrive together in one model call.

    A query's texts wait in a list; the first to arrive also queues one job in the model
    thread's query lane, and that job, when the thread reaches it, encodes every text waiting by
    then. So a query that finds the model idle is encoded at once (no fixed wait), while queries
    that arrive while the model is busy (with a picture call or the previous text call) share
    the next call: one call of 8 short texts costs far less than 8 calls of one. Identical texts
    are encoded once. When a shared call fails, each query is retried alone, so one bad query
    fails only its own caller.

    A fixed collection window was measured and left out: 2–5 ms more for every lone query bought
    at most ~9 % more queries/s under load (docs/BENCHMARKS.md, "Query latency").
    """

    def __init__(self, model: ModelThread, encode: Callable[[list[str]], np.ndarray]) -> None:
        self._model = model
        self._encode = encode
        self._lock = threading.Lock()
        self._waiting: list[tuple[list[str], Future[np.ndarray]]] = []
        self._scheduled = False

    def submit(self, texts: list[str]) -> Future[np.ndarray]:
        future: Future[np.ndarray] = Future()
        with self._lock:
            if not self._scheduled:
                self._model.submit(QUERY, self._encode_waiting)
                self._scheduled = True
            self._waiting.append((texts, future))
        return future

    def _encode_waiting(self) -> None:
        """Runs in the model thread: encodes everything waiting, answers each caller."""
        with self._lock:
            waiting, self._waiting, self._scheduled = self._waiting, [], False
        waiting = [(texts, f) for texts, f in waiting if f.set_running_or_notify_cancel()]
        if len(waiting) > 1:
            try:
                rows = self._rows_of([texts for texts, _ in waiting])
            except Exception as exc:
                log.warning("a call of %d queries failed (%r); retrying each", len(waiting), exc)
            else:
                for (_, future), vectors in zip(waiting, rows, strict=True):
                    future.set_result(vectors)
                return
        for texts, future in waiting:
            try:
                future.set_result(self._rows_of([texts])[0])
            except BaseException as exc:
                future.set_exception(exc)

    def _rows_of(self, requests: list[list[str]]) -> list[np.ndarray]:
        """One model call for all requests; each gets its own rows."""
        unique = list(dict.fromkeys(text for texts in requests for text in texts))
        vectors = self._encode(unique)
        row = {text: number for number, text in enumerate(unique)}
        return [vectors[[row[text] for text in texts]] for texts in requests]
