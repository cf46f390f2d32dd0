"""Query work in the model thread: concurrent texts share a call, queries jump queued pictures.

Every test holds the model thread busy with a call that waits on an event, queues work behind
it, then lets it go, so what is observed (the order and content of the embedder's calls) does
not depend on timing.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from indexer.embed.pipeline import MODEL_CALL_PICTURES, EmbeddingPipeline
from indexer.model.embedder import Embedder
from indexer.service import IndexService
from indexer.synthetic import ShapeSpec
from tests.helpers import index_pictures
from tests.recording_pipeline import RecordingEmbedder

pytest_plugins = ["recording_pipeline"]

QUERIES = [
    "a red circle",
    "a blue square",
    "a green star",
    "一个橙色的十字形",
    "a yellow triangle",
    "a purple heart",
    "a red star",
    "a blue circle",
]


class BusyModel:
    """Keeps the model thread in one call until :meth:`release`."""

    def __init__(self, pipeline: EmbeddingPipeline) -> None:
        self._started = threading.Event()
        self._release = threading.Event()
        self._task = asyncio.ensure_future(pipeline.run_model(self._hold))

    def _hold(self) -> None:
        self._started.set()
        self._release.wait(30)

    async def __aenter__(self) -> BusyModel:
        assert await asyncio.to_thread(self._started.wait, 30)
        return self

    async def __aexit__(self, *_: object) -> None:
        await asyncio.sleep(0)  # tasks created inside the block take their first step
        self._release.set()
        await self._task


async def test_concurrent_queries_are_encoded_in_one_call_with_their_own_vectors(
    pipeline: EmbeddingPipeline, recording: RecordingEmbedder, embedder: Embedder
) -> None:
    requests = [[query] for query in QUERIES] + [["a red circle", "a green star"], []]
    async with BusyModel(pipeline):
        tasks = [asyncio.ensure_future(pipeline.embed_texts(texts)) for texts in requests]
    results = await asyncio.gather(*tasks)

    assert recording.text_calls() == [QUERIES]  # one call, each distinct text once
    for texts, vectors in zip(requests, results, strict=True):
        assert vectors.shape == (len(texts), embedder.dim)
        if texts:
            np.testing.assert_allclose(vectors, embedder.encode_texts(texts), atol=1e-5)


async def test_without_batching_each_query_is_a_call_of_its_own(
    pipeline: EmbeddingPipeline, recording: RecordingEmbedder
) -> None:
    pipeline.batch_queries = False
    async with BusyModel(pipeline):
        tasks = [asyncio.ensure_future(pipeline.embed_texts([query])) for query in QUERIES]
    await asyncio.gather(*tasks)
    assert recording.text_calls() == [[query] for query in QUERIES]


async def test_a_lone_query_is_encoded_at_once(
    pipeline: EmbeddingPipeline, recording: RecordingEmbedder, embedder: Embedder
) -> None:
    vectors = await pipeline.embed_texts(["a red circle"])
    assert recording.text_calls() == [["a red circle"]]
    np.testing.assert_allclose(vectors, embedder.encode_texts(["a red circle"]), atol=1e-6)


async def test_queries_run_before_queued_picture_calls_and_background_texts_after(
    pipeline: EmbeddingPipeline,
    recording: RecordingEmbedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    items = [(number, data) for number, (data, _) in enumerate(held_out_pictures[:24])]
    async with BusyModel(pipeline):
        indexing = asyncio.ensure_future(pipeline.embed(items))
        while pipeline.queued_model_calls < len(items) // MODEL_CALL_PICTURES:
            assert not indexing.done(), indexing.result()
            await asyncio.sleep(0.01)  # the pictures are decoded in other threads first
        background = asyncio.ensure_future(pipeline.embed_texts(["a caption"], background=True))
        query = asyncio.ensure_future(pipeline.embed_texts(["a red circle"]))
    embedded, failures = await indexing
    await asyncio.gather(query, background)

    assert failures == {} and len(embedded) == len(items)
    assert recording.calls == [
        ("texts", ["a red circle"]),
        ("pictures", MODEL_CALL_PICTURES),
        ("pictures", MODEL_CALL_PICTURES),
        ("pictures", MODEL_CALL_PICTURES),
        ("texts", ["a caption"]),
    ]


async def test_a_failed_call_reaches_its_callers_and_the_pipeline_keeps_serving(
    pipeline: EmbeddingPipeline,
    recording: RecordingEmbedder,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    recording.fail_text = "boom"
    async with BusyModel(pipeline):
        bad = asyncio.ensure_future(pipeline.embed_texts(["boom"]))
        good = asyncio.ensure_future(pipeline.embed_texts(["a red circle"]))
    with pytest.raises(ValueError, match="boom"):
        await bad
    np.testing.assert_allclose(await good, embedder.encode_texts(["a red circle"]), atol=1e-5)
    # The shared call failed, so each query was retried alone: only the bad one failed.
    assert recording.text_calls() == [["boom", "a red circle"], ["boom"], ["a red circle"]]
    with pytest.raises(ValueError, match="boom"):
        await pipeline.embed_texts(["boom"])

    items = [(number, data) for number, (data, _) in enumerate(held_out_pictures[:4])]
    recording.fail_pictures = True
    embedded, failures = await pipeline.embed(items)
    # The failed call of four was retried picture by picture: one failure fails only itself.
    assert len(embedded) == len(items) and failures == {}
    assert [call for call in recording.calls if call[0] == "pictures"][-5:] == [
        ("pictures", 4),
        *[("pictures", 1)] * 4,
    ]
    assert (await pipeline.embed_texts(["a green star"])).shape == (1, embedder.dim)


async def test_concurrent_searches_find_what_searches_one_by_one_find(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    await index_pictures(service, "shapes", held_out_pictures[:48])
    one_by_one = [await service.search_text(["shapes"], query, k=5) for query in QUERIES]
    together = await asyncio.gather(
        *(service.search_text(["shapes"], query, k=5) for query in QUERIES)
    )
    for alone, shared in zip(one_by_one, together, strict=True):
        assert [hit.image.id for hit in shared] == [hit.image.id for hit in alone]
        np.testing.assert_allclose(
            [hit.score for hit in shared], [hit.score for hit in alone], atol=1e-4
        )
