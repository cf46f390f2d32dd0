"""Turning picture sources into vectors: fetch the bytes, decode, preprocess, embed.

Fetching is I/O (a file read, a Telegram download) and runs concurrently on the event loop;
decoding and preprocessing run in a small thread pool; the model runs in one dedicated thread,
so encoding never blocks the event loop and two batches never fight over the CPU's cores.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from indexer.config import LimitsConfig
from indexer.embedder import Embedder
from indexer.errors import BadImageError
from indexer.images import decode_scaled
from indexer.metadata import EmbeddedImage

log = logging.getLogger(__name__)

#: Reads the bytes of a picture from its source, e.g. ``file:/photos/a.jpg``.
Fetcher = Callable[[str], Awaitable[bytes]]

Result = TypeVar("Result")

_CONCURRENT_FETCHES = 8
#: Pictures per model call while indexing. The model thread serves calls in order, so a search
#: arriving during a burst waits for at most this many pictures (ViT-B-32 fp32 on 2 cores:
#: query p50 0.3 s instead of 1.4 s), for about 8 % less throughput than calls of 32
#: (docs/BENCHMARKS.md).
MODEL_CALL_PICTURES = 8


class SourceGoneError(Exception):
    """A fetcher's way to say the source no longer exists, so retrying is pointless."""


async def read_file_source(source: str) -> bytes:
    """The fetcher of ``file:`` sources: reads a local file off the event loop."""
    path = Path(source.partition(":")[2])
    try:
        return await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise SourceGoneError(f"file not found: {path}") from None


@dataclass(frozen=True)
class Fetched:
    """The bytes of one source, or why they could not be had."""

    data: bytes | None = None
    error: str | None = None
    permanent: bool = False

    @property
    def sha256(self) -> str:
        assert self.data is not None
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class _Decoded:
    pixels: torch.Tensor
    width: int
    height: int


class EmbeddingPipeline:
    """Fetches, decodes and embeds batches of pictures for the service."""

    def __init__(self, embedder: Embedder, limits: LimitsConfig) -> None:
        self.embedder = embedder
        self._limits = limits
        self._fetchers: dict[str, Fetcher] = {"file": read_file_source}
        self._model_thread = ThreadPoolExecutor(1, thread_name_prefix="clip-model")
        self._decode_threads = ThreadPoolExecutor(2, thread_name_prefix="image-decode")

    def register_fetcher(self, scheme: str, fetcher: Fetcher) -> None:
        """Lets sources ``scheme:...`` be fetched (the bot registers ``telegram``)."""
        self._fetchers[scheme] = fetcher

    @property
    def schemes(self) -> list[str]:
        return list(self._fetchers)

    def close(self) -> None:
        self._model_thread.shutdown(wait=True)
        self._decode_threads.shutdown(wait=True)

    async def run_model(self, function: Callable[..., Result], *args: Any) -> Result:
        """Runs a model call in the model's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._model_thread, function, *args)

    async def fetch(self, source: str) -> Fetched:
        """Gets the bytes of one source; failures are returned, not raised."""
        fetcher = self._fetchers.get(source.partition(":")[0])
        if fetcher is None:
            return Fetched(error=f"no way to fetch {source!r}")
        try:
            data = await fetcher(source)
        except (SourceGoneError, BadImageError) as exc:
            return Fetched(error=str(exc), permanent=True)
        except Exception as exc:
            log.warning("fetching %s failed: %r", source, exc)
            return Fetched(error=f"could not fetch the picture: {exc}")
        if len(data) > self._limits.max_image_bytes:
            return Fetched(
                error=f"the file is too large ({len(data):,} bytes, at most "
                f"{self._limits.max_image_bytes:,})",
                permanent=True,
            )
        return Fetched(data=data)

    async def fetch_many(self, sources: Sequence[str]) -> list[Fetched]:
        """Fetches sources concurrently, a few at a time."""
        gate = asyncio.Semaphore(_CONCURRENT_FETCHES)

        async def fetch_one(source: str) -> Fetched:
            async with gate:
                return await self.fetch(source)

        return list(await asyncio.gather(*(fetch_one(source) for source in sources)))

    def decode(self, data: bytes) -> _Decoded:
        """Decodes and preprocesses one picture; raises BadImageError for unusable bytes."""
        image, (width, height) = decode_scaled(
            data,
            max_bytes=self._limits.max_image_bytes,
            max_pixels=self._limits.max_image_pixels,
            min_side=self.embedder.input_side,
        )
        return _Decoded(self.embedder.preprocess(image), width, height)

    async def embed(
        self, items: Sequence[tuple[int, bytes]]
    ) -> tuple[list[EmbeddedImage], dict[int, str]]:
        """Embeds (id, bytes) pairs; returns the embedded pictures and, by id, why others failed."""
        loop = asyncio.get_running_loop()
        decoded = await asyncio.gather(
            *(
                loop.run_in_executor(self._decode_threads, self._decode_or_error, data)
                for _, data in items
            )
        )
        failures = {
            image_id: d
            for (image_id, _), d in zip(items, decoded, strict=True)
            if isinstance(d, str)
        }
        good = [
            (image_id, data, d)
            for (image_id, data), d in zip(items, decoded, strict=True)
            if isinstance(d, _Decoded)
        ]
        if not good:
            return [], failures
        pixels = [d.pixels for *_, d in good]
        calls = [
            pixels[start : start + MODEL_CALL_PICTURES]
            for start in range(0, len(pixels), MODEL_CALL_PICTURES)
        ]
        vectors = np.concatenate(
            [await self.run_model(self.embedder.encode_pixels, call) for call in calls]
        )
        embedded = [
            EmbeddedImage(
                id=image_id,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                width=d.width,
                height=d.height,
                vector=vector,
            )
            for (image_id, data, d), vector in zip(good, vectors, strict=True)
        ]
        return embedded, failures

    def _decode_or_error(self, data: bytes) -> _Decoded | str:
        try:
            return self.decode(data)
        except BadImageError as exc:
            return str(exc)

    async def embed_query_image(self, data: bytes) -> np.ndarray:
        """Embeds a picture sent as a query; raises BadImageError for unusable bytes."""
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(self._decode_threads, self.decode, data)
        return await self.run_model(self.embedder.encode_pixels, [decoded.pixels])

    async def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return await self.run_model(self.embedder.encode_texts, list(texts))
