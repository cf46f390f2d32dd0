"""Query vectors asked for again come from memory: bounded, and never another model's."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.embed.pipeline import EmbeddingPipeline
from indexer.embed.query_cache import QueryVectors
from indexer.model.embedder import Embedder
from tests.recording_pipeline import RecordingEmbedder

pytest_plugins = ["recording_pipeline"]


async def test_a_query_asked_again_is_not_encoded_again(
    pipeline: EmbeddingPipeline, recording: RecordingEmbedder, embedder: Embedder
) -> None:
    first = await pipeline.embed_texts(["a red circle"])
    again = await pipeline.embed_texts(["a red circle"])  # the More button, the same question
    mixed = await pipeline.embed_texts(["a blue square", "a red circle", "a blue square"])
    assert recording.text_calls() == [["a red circle"], ["a blue square"]]
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(mixed[1], first[0])
    np.testing.assert_array_equal(mixed[0], mixed[2])
    fresh = embedder.encode_texts(["a blue square", "a red circle", "a blue square"])
    np.testing.assert_allclose(mixed, fresh, atol=1e-6)


async def test_background_texts_and_a_switched_off_cache_always_reach_the_model(
    pipeline: EmbeddingPipeline, recording: RecordingEmbedder
) -> None:
    await pipeline.embed_texts(["a red circle"])
    await pipeline.embed_texts(["a red circle"], background=True)
    pipeline.reuse_query_vectors = False
    await pipeline.embed_texts(["a red circle"])
    assert recording.text_calls() == [["a red circle"]] * 3


def test_vectors_of_one_model_are_never_answered_for_another() -> None:
    kept = QueryVectors()
    kept.put("model-a", "a cat", np.ones(4, dtype=np.float32))
    assert kept.get("model-b", "a cat") is None
    assert kept.get("model-a", "a cat") is not None


def test_the_least_recently_used_vector_goes_first_and_kept_ones_cannot_be_changed() -> None:
    kept = QueryVectors(kept=2)
    for number, text in enumerate(("one", "two")):
        kept.put("m", text, np.full(4, number, dtype=np.float32))
    assert kept.get("m", "one") is not None  # "two" is now the least recently used
    kept.put("m", "three", np.zeros(4, dtype=np.float32))
    assert len(kept) == 2 and kept.get("m", "two") is None
    vector = kept.get("m", "one")
    assert vector is not None
    with pytest.raises(ValueError):
        vector[0] = 5.0
