"""A deletion wins over indexing in flight, at every point where the worker can be.

Each test stops the worker at one point (inside the download, inside the model call), forgets
or opts out there, lets the worker finish, and checks the picture is gone everywhere: search,
the index, stored facts, and after a restart (the index rebuilt from SQLite).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from indexer.config import IndexerConfig
from indexer.errors import PictureNotFoundError
from indexer.model.embedder import Embedder
from indexer.records import ImageFacts, ImageText
from indexer.service import IndexService
from indexer.store import DATABASE_FILE
from indexer.synthetic import ShapeSpec
from tests.gates import FetchGate, GatedEmbedder, ModelGate

Pictures = list[tuple[bytes, ShapeSpec]]


@pytest.fixture
async def gate() -> ModelGate:
    return ModelGate()


@pytest.fixture
async def gated(
    indexer_config: IndexerConfig, embedder: Embedder, gate: ModelGate
) -> AsyncIterator[IndexService]:
    service = await IndexService.open(indexer_config, GatedEmbedder(embedder, gate))
    try:
        yield service
    finally:
        gate.release()
        await service.close()


async def assert_gone(
    service: IndexService, collection: str, ids: Sequence[int], pictures: Pictures
) -> None:
    """None of ``ids`` is stored, indexed or found by any search of the collection."""
    stats = await service.stats(collection)
    assert stats.images == 0 and stats.index_vectors == 0, stats
    assert await service.images(ids) == {}
    for data, spec in pictures:
        found = await service.search_text([collection], spec.caption_en, k=50)
        found += await service.search_image([collection], data, k=50)
        assert not {hit.image.id for hit in found} & set(ids)


async def assert_gone_after_restart(
    config: IndexerConfig, embedder: Embedder, ids: Sequence[int], pictures: Pictures
) -> None:
    async with await IndexService.open(config, embedder) as reopened:
        await assert_gone(reopened, "chat", ids, pictures)


async def test_forgetting_a_picture_while_it_downloads_keeps_it_forgotten(
    service: IndexService,
    indexer_config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: Pictures,
) -> None:
    pictures = held_out_pictures[:1]
    fetch = FetchGate({"slow:1": pictures[0][0]})
    service.register_fetcher("slow", fetch.fetch)
    added = await service.add_image("chat", ImageFacts(source="slow:1", message_id=1))
    assert added.image_id is not None
    await fetch.started.wait()

    assert await service.forget_message("chat", 1) == 1
    fetch.release.set()
    await service.wait_idle()

    await assert_gone(service, "chat", [added.image_id], pictures)
    await service.close()
    await assert_gone_after_restart(indexer_config, embedder, [added.image_id], pictures)


async def test_forgetting_a_picture_while_the_model_embeds_it_keeps_it_forgotten(
    gated: IndexService, gate: ModelGate, held_out_pictures: Pictures
) -> None:
    pictures = held_out_pictures[:3]
    gate.armed = True
    ids = [
        (await gated.add_image("chat", ImageFacts(source=f"upload:{n}"), data=data)).image_id
        for n, (data, _) in enumerate(pictures)
    ]
    await gate.entered.wait()

    assert await gated.forget("chat", [i for i in ids if i is not None]) == 3
    gate.release()
    await gated.wait_idle()

    await assert_gone(gated, "chat", [i for i in ids if i is not None], pictures)


async def test_opting_out_during_a_burst_leaves_none_of_the_posters_pictures(
    gated: IndexService,
    gate: ModelGate,
    indexer_config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: Pictures,
) -> None:
    pictures = held_out_pictures[:16]
    gate.armed = True
    ids: list[int] = []
    for number, (data, _) in enumerate(pictures):
        added = await gated.add_image(
            "chat", ImageFacts(source=f"upload:{number}", poster_id=7), data=data
        )
        assert added.image_id is not None
        ids.append(added.image_id)
    await gate.entered.wait()

    assert await gated.opt_out("chat", 7) == 16
    gate.release()
    await gated.wait_idle()

    await assert_gone(gated, "chat", ids, pictures)
    late = await gated.add_image(
        "chat", ImageFacts(source="upload:late", poster_id=7), data=pictures[0][0]
    )
    assert late.outcome == "opted_out"
    await gated.close()
    await assert_gone_after_restart(indexer_config, embedder, ids, pictures)


async def test_a_picture_handed_over_after_its_poster_opted_out_is_not_recorded(
    service: IndexService, held_out_pictures: Pictures
) -> None:
    """The opt-out is checked in the transaction that records the picture, so a picture
    that was on its way while the poster opted out is not stored either."""
    collection_id = await service.engine.store.collections.ensure("chat")
    await service.opt_out("chat", 7)
    recorded = await service.engine.store.queue.add_image(
        collection_id,
        ImageFacts(source="upload:1", poster_id=7, caption="on its way"),
        data=held_out_pictures[0][0],
    )
    assert recorded is None
    stats = await service.stats("chat")
    assert (stats.images, stats.pending, stats.forgotten) == (0, 0, 0)


async def test_forgetting_the_original_while_a_copy_downloads_keeps_the_copy_as_its_own(
    service: IndexService, held_out_pictures: Pictures
) -> None:
    data, spec = held_out_pictures[0]
    original = await service.add_image(
        "chat", ImageFacts(source="upload:1", message_id=1), data=data
    )
    await service.wait_idle()
    fetch = FetchGate({"slow:2": data})
    service.register_fetcher("slow", fetch.fetch)
    copy = await service.add_image("chat", ImageFacts(source="slow:2", message_id=2))
    await fetch.started.wait()

    assert await service.forget_message("chat", 1) == 1
    fetch.release.set()
    await service.wait_idle()

    hits = await service.search_text(["chat"], spec.caption_en, k=5)
    assert [hit.image.id for hit in hits] == [copy.image_id] != [original.image_id]
    stats = await service.stats("chat")
    assert (stats.images, stats.reposts, stats.index_vectors) == (1, 0, 1)


async def tag_held_in_the_model(
    service: IndexService, gate: ModelGate, pictures: Pictures, text: str
) -> tuple[int, asyncio.Task[list[ImageText]]]:
    """Indexes one picture, then starts tagging it; returns once the tag is in the model."""
    added = await service.add_image("chat", ImageFacts(source="upload:1"), data=pictures[0][0])
    await service.wait_idle()
    assert added.image_id is not None
    gate.armed = True
    tagging = asyncio.create_task(service.tag("chat", [added.image_id], text))
    await gate.entered.wait()
    return added.image_id, tagging


async def test_forgetting_a_picture_while_its_tag_is_embedded_leaves_no_tag(
    gated: IndexService, gate: ModelGate, held_out_pictures: Pictures
) -> None:
    image_id, tagging = await tag_held_in_the_model(
        gated, gate, held_out_pictures, "grandma's garden"
    )

    assert await gated.forget("chat", [image_id]) == 1
    gate.release()
    with pytest.raises(PictureNotFoundError):
        await tagging

    assert (await gated.stats("chat")).tags == 0
    assert await gated.search_text(["chat"], "grandma's garden", k=5) == []
    _, texts_indexed, _ = await gated.engine.texts.describe(
        await gated.engine.store.collections.ensure("chat")
    )
    assert texts_indexed == 0


async def test_a_tag_enters_the_text_index_once_when_the_caption_backlog_embeds_it_too(
    gated: IndexService, gate: ModelGate, held_out_pictures: Pictures
) -> None:
    _, tagging = await tag_held_in_the_model(gated, gate, held_out_pictures, "lighthouse")
    # The worker finds the new tag without a vector and queues it behind the tag's own call.
    while gated.engine.pipeline.queued_model_calls == 0:
        await asyncio.sleep(0.01)
    gate.release()
    await tagging
    await gated.wait_idle()

    collection_id = await gated.engine.store.collections.ensure("chat")
    _, texts_indexed, _ = await gated.engine.texts.describe(collection_id)
    assert texts_indexed == 1


async def test_a_repost_keeps_no_bytes_in_the_queue(
    service: IndexService, indexer_config: IndexerConfig, held_out_pictures: Pictures
) -> None:
    data = held_out_pictures[0][0]
    await service.add_image("chat", ImageFacts(source="upload:1", file_unique_id="A"), data=data)
    repost = await service.add_image(
        "chat", ImageFacts(source="upload:2", file_unique_id="A"), data=data
    )
    await service.add_image("chat", ImageFacts(source="upload:3", file_unique_id="B"), data=data)
    await service.wait_idle()
    assert repost.outcome == "repost"
    await service.close()
    path: Path = indexer_config.storage.data_dir / DATABASE_FILE
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM pending_data").fetchone() == (0,)
