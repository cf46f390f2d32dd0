"""The real embedder, recording its calls, and a pipeline over it: fixtures for the tests of
the model thread (query batching, the query-vector cache); load with
``pytest_plugins = ["recording_pipeline"]``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest

from indexer.config import LimitsConfig
from indexer.embed.pipeline import EmbeddingPipeline
from indexer.model.embedder import Embedder


class RecordingEmbedder:
    """The real embedder, recording its calls in the order the model thread makes them.

    It can fail a call: any text call containing ``fail_text``, the next picture call when
    ``fail_pictures`` is set.
    """

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.calls: list[tuple[str, object]] = []
        self.fail_text: str | None = None
        self.fail_pictures = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def encode_pixels(self, pixels: Sequence[object]) -> np.ndarray:
        self.calls.append(("pictures", len(pixels)))
        if self.fail_pictures:
            self.fail_pictures = False
            raise RuntimeError("the model ran out of memory")
        return self._inner.encode_pixels(pixels)  # type: ignore[arg-type]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(("texts", list(texts)))
        if self.fail_text is not None and self.fail_text in texts:
            raise ValueError(f"cannot encode {self.fail_text!r}")
        return self._inner.encode_texts(texts)

    def text_calls(self) -> list[list[str]]:
        return [texts for kind, texts in self.calls if kind == "texts"]  # type: ignore[misc]


@pytest.fixture
async def recording(embedder: Embedder) -> RecordingEmbedder:
    return RecordingEmbedder(embedder)


@pytest.fixture
async def pipeline(recording: RecordingEmbedder) -> AsyncIterator[EmbeddingPipeline]:
    pipeline = EmbeddingPipeline(recording, LimitsConfig())  # type: ignore[arg-type]
    yield pipeline
    pipeline.close()
