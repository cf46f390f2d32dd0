"""Turning picture sources into vectors: fetch the bytes, decode, preprocess, embed.

Fetching is I/O (a file read, a Telegram download) on the event loop, one source per call and
with a deadline (:meth:`EmbeddingPipeline.fetch`; the worker and reindex run many at once, see
:mod:`indexer.ingest.downloads`); decoding and preprocessing run in a small thread pool; the
model runs in one dedicated thread (:class:`~indexer.embed.model_thread.ModelThread`), so
encoding never blocks the event loop and two batches never fight over the CPU's cores. That
thread serves search queries before queued indexing work, and the texts of queries that arrive
together are encoded in one call (:class:`~indexer.embed.model_thread.TextBatcher`).

The model thread and its query batcher are :mod:`indexer.embed.model_thread`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from indexer.config import LimitsConfig
from indexer.embed.clips import ClipLimits, decode_clip
from indexer.embed.decode import decode_scaled, is_still_picture
from indexer.embed.files import read_picture_file
from indexer.embed.model_thread import BULK, QUERY, ModelThread, TextBatcher
from indexer.embed.query_cache import QueryVectors
from indexer.errors import BadImageError, SourceGoneError
from indexer.model.embedder import Embedder
from indexer.records import EmbeddedImage, Fetcher, FrameVector, ImageKind

log = logging.getLogger(__name__)

Result = TypeVar("Result")

#: Pictures per model call while indexing. A search arriving during a burst jumps the queued
#: calls but still waits for the one running, so for at most this many pictures (ViT-B-32 fp32
#: on 2 cores: query p50 0.3 s instead of 1.4 s with calls of 32), for about 8 % less throughput
#: than calls of 32 (docs/BENCHMARKS.md).
MODEL_CALL_PICTURES = 8


def _normalised_mean(rows: np.ndarray) -> np.ndarray:
    """The unit vector of the mean of ``rows`` (unit vectors): a clip's one vector."""
    mean = np.asarray(rows, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def _embedded(
    image_id: int, data: bytes, decoded: _Decoded, rows: list[np.ndarray]
) -> EmbeddedImage:
    """A picture's embedding; a clip's vector is the mean of its frames', kept beside them."""
    frames = (
        ()
        if decoded.moments is None
        else tuple(FrameVector(s, v) for s, v in zip(decoded.moments, rows, strict=True))
    )
    return EmbeddedImage(
        id=image_id,
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        width=decoded.width,
        height=decoded.height,
        vector=rows[0] if decoded.moments is None else _normalised_mean(np.stack(rows)),
        frames=frames,
        kind=decoded.kind,
    )


def file_fetcher(max_bytes: int) -> Fetcher:
    """The fetcher of ``file:`` sources: a regular file of at most ``max_bytes``, read off
    the event loop and checked again at every read (:mod:`indexer.embed.files`)."""

    async def read_file_source(source: str) -> bytes:
        path = Path(source.partition(":")[2])
        return await asyncio.to_thread(read_picture_file, path, max_bytes)

    return read_file_source


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
    """A picture's pixels, or a clip's frames and the moments they show."""

    pixels: list[torch.Tensor]
    width: int
    height: int
    moments: list[float] | None = None
    kind: ImageKind | None = None


class EmbeddingPipeline:
    """Fetches, decodes and embeds batches of pictures for the service."""

    def __init__(self, embedder: Embedder, limits: LimitsConfig) -> None:
        self.embedder = embedder
        self._limits = limits
        self._fetchers: dict[str, Fetcher] = {"file": file_fetcher(limits.max_image_bytes)}
        self._model_thread = ModelThread()
        self._decode_threads = ThreadPoolExecutor(2, thread_name_prefix="image-decode")
        self._texts = TextBatcher(self._model_thread, embedder.encode_texts)
        #: Whether concurrent queries' texts share model calls (benchmarks switch it off).
        self.batch_queries = True
        self._query_vectors = QueryVectors()
        #: Whether query texts asked recently are answered from memory (benchmarks that time
        #: the text tower switch it off).
        self.reuse_query_vectors = True

    def register_fetcher(self, scheme: str, fetcher: Fetcher) -> None:
        """Lets sources ``scheme:...`` be fetched (the bot registers ``telegram``)."""
        self._fetchers[scheme] = fetcher

    @property
    def schemes(self) -> list[str]:
        return list(self._fetchers)

    @property
    def queued_model_calls(self) -> int:
        """Model calls waiting for the model thread, of any priority."""
        return self._model_thread.queued

    def close(self) -> None:
        self._model_thread.close()
        self._decode_threads.shutdown(wait=True)

    async def run_model(
        self, function: Callable[..., Result], *args: Any, priority: int = BULK
    ) -> Result:
        """Runs a model call in the model's own thread, :data:`QUERY` calls first."""
        return await asyncio.wrap_future(self._model_thread.submit(priority, function, *args))

    async def fetch(self, source: str) -> Fetched:
        """Gets the bytes of one source; failures are returned, not raised.

        An attempt may take ``limits.download_seconds``; a slower one fails (to be retried).
        """
        fetcher = self._fetchers.get(source.partition(":")[0])
        if fetcher is None:
            return Fetched(error=f"no way to fetch {source!r}")
        deadline = self._limits.download_seconds
        try:
            async with asyncio.timeout(deadline):
                data = await fetcher(source)
        except TimeoutError:
            return Fetched(error=f"the download took longer than {deadline:g} s")
        except (SourceGoneError, BadImageError) as exc:
            return Fetched(error=str(exc), permanent=True)
        except Exception as exc:
            # INFO: the error is kept in the picture's row and retried; callers report it.
            log.info("fetching %s failed: %r", source, exc)
            return Fetched(error=f"could not fetch the picture: {exc}")
        if len(data) > self._limits.max_image_bytes:
            return Fetched(
                error=f"the file is too large ({len(data):,} bytes, at most "
                f"{self._limits.max_image_bytes:,})",
                permanent=True,
            )
        return Fetched(data=data)

    def decode(self, data: bytes) -> _Decoded:
        """Decodes and preprocesses one picture, or a clip's frames (an animated GIF, or any
        file Pillow does not know: MP4, WebM, MOV...); raises BadImageError for unusable bytes."""
        if len(data) > self._limits.max_image_bytes:
            raise BadImageError(
                f"the file is too large ({len(data):,} bytes, at most "
                f"{self._limits.max_image_bytes:,})"
            )
        if is_still_picture(data):
            image, (width, height) = decode_scaled(
                data,
                max_bytes=self._limits.max_image_bytes,
                max_pixels=self._limits.max_image_pixels,
                min_side=self.embedder.input_side,
            )
            return _Decoded([self.embedder.preprocess(image)], width, height)
        clip = decode_clip(data, self._clip_limits)
        return _Decoded(
            [self.embedder.preprocess(image) for image in clip.images],
            clip.width,
            clip.height,
            clip.seconds,
            "gif" if data.startswith(b"GIF8") else "video",
        )

    @property
    def _clip_limits(self) -> ClipLimits:
        return ClipLimits(
            frames=self._limits.clip_frames,
            max_pixels=self._limits.max_clip_pixels,
            seconds=self._limits.clip_seconds,
            decode_seconds=self._limits.clip_decode_seconds,
            short_side=self.embedder.input_side,
        )

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
        # A clip's frames count as pictures of a model call: (image id, pixels) each.
        frames = [(image_id, pixels) for image_id, _, d in good for pixels in d.pixels]
        if not frames:
            return [], failures
        # All calls are queued at once: the model thread never idles between them, and a
        # query arriving meanwhile still runs right after the call in progress.
        chunks = [
            frames[start : start + MODEL_CALL_PICTURES]
            for start in range(0, len(frames), MODEL_CALL_PICTURES)
        ]
        encoded = await asyncio.gather(*(self._encode_chunk(chunk) for chunk in chunks))
        vectors: dict[int, list[np.ndarray]] = {}
        for chunk, rows in zip(chunks, encoded, strict=True):
            for (image_id, _), row in zip(chunk, rows, strict=True):
                if isinstance(row, str):
                    failures.setdefault(image_id, row)
                else:
                    vectors.setdefault(image_id, []).append(row)
        embedded = [
            _embedded(image_id, data, d, vectors[image_id])
            for image_id, data, d in good
            if image_id not in failures
        ]
        return embedded, failures

    async def _encode_chunk(
        self, chunk: Sequence[tuple[int, torch.Tensor]]
    ) -> list[np.ndarray | str]:
        """One model call for a chunk; if it fails, each picture alone, so a failure (a
        MemoryError included) fails only its own picture."""
        try:
            return list(await self.run_model(self.embedder.encode_pixels, [p for _, p in chunk]))
        except Exception as exc:
            if len(chunk) == 1:
                log.warning("embedding picture %d failed: %r", chunk[0][0], exc)
                return [f"the model could not embed the picture ({type(exc).__name__})"]
        return [row for item in chunk for row in await self._encode_chunk([item])]

    def _decode_or_error(self, data: bytes) -> _Decoded | str:
        """Decodes one picture; any failure (a MemoryError included) is its own."""
        try:
            return self.decode(data)
        except BadImageError as exc:
            return str(exc)
        except Exception as exc:
            log.warning("decoding a picture failed: %r", exc)
            return f"the picture could not be decoded ({type(exc).__name__})"

    async def embed_query_image(self, data: bytes) -> np.ndarray:
        """Embeds a picture sent as a query (a clip: the mean of its frames); raises
        BadImageError for unusable bytes."""
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(self._decode_threads, self.decode, data)
        rows = await self.run_model(self.embedder.encode_pixels, decoded.pixels, priority=QUERY)
        return _normalised_mean(rows)[None, :]

    async def embed_texts(self, texts: Sequence[str], *, background: bool = False) -> np.ndarray:
        """Vectors of ``texts``, one row each, in order.

        By default the texts are someone's query (a search, a tag being added): those asked
        recently are answered from memory (:class:`~indexer.embed.query_cache.QueryVectors`),
        the others take the model's query lane and share a call with other queries waiting
        (:class:`~indexer.embed.model_thread.TextBatcher`).
        ``background`` texts (the caption backlog) are indexing work: a call of their own,
        behind queries.
        """
        texts = list(texts)
        if background:
            return await self.run_model(self.embedder.encode_texts, texts)
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        if not self.reuse_query_vectors:
            return await self._encode_query_texts(texts)
        identity = self.embedder.identity
        known = {text: self._query_vectors.get(identity, text) for text in dict.fromkeys(texts)}
        missing = [text for text, vector in known.items() if vector is None]
        if missing:
            for text, vector in zip(missing, await self._encode_query_texts(missing), strict=True):
                self._query_vectors.put(identity, text, vector)
                known[text] = vector
        return np.stack([known[text] for text in texts])

    async def _encode_query_texts(self, texts: list[str]) -> np.ndarray:
        """Query texts through the model's query lane, sharing a call with other queries."""
        if not self.batch_queries:
            return await self.run_model(self.embedder.encode_texts, texts, priority=QUERY)
        return await asyncio.wrap_future(self._texts.submit(texts))
