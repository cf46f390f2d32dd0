"""Deterministic interleavings: a fetcher and a model that stop at a known point until released.

A test hands a picture over, waits until the worker is inside the download (or the model call),
does what must win (forget, opt out), then lets the worker go on. No sleeps: each side waits on
an event the other side sets.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import torch

from indexer.model.embedder import Embedder


class FetchGate:
    """A fetcher that serves ``pictures`` (source → bytes) once ``release`` is set."""

    def __init__(self, pictures: dict[str, bytes]) -> None:
        self.pictures = pictures
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def fetch(self, source: str) -> bytes:
        self.started.set()
        await self.release.wait()
        return self.pictures[source]


class ModelGate:
    """Holds the model thread inside its next call (pictures or texts) while ``armed``.

    The model runs in its own thread, so the gate is a threading event; ``entered`` is set on
    the test's event loop when the call has started.
    """

    def __init__(self) -> None:
        self.armed = False
        self.entered = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._release = threading.Event()

    def release(self) -> None:
        self.armed = False
        self._release.set()

    def pass_through(self) -> None:
        if self.armed:
            self._loop.call_soon_threadsafe(self.entered.set)
            self._release.wait(timeout=60)


class GatedEmbedder(Embedder):
    """The loaded tiny model, with a :class:`ModelGate` in front of every model call."""

    def __init__(self, inner: Embedder, gate: ModelGate) -> None:
        self.__dict__.update(inner.__dict__)
        self.gate = gate

    def encode_pixels(self, pixels: Sequence[torch.Tensor]) -> np.ndarray:
        self.gate.pass_through()
        return super().encode_pixels(pixels)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.gate.pass_through()
        return super().encode_texts(texts)
