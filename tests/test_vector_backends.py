"""One behaviour, three vector stores: FAISS, Milvus Lite, and a standalone Milvus server.

Every test runs through the real service with the tiny model, once per backend, so Milvus must
do all that FAISS does: find the described pictures, keep chats apart, show a new picture and
hide a forgotten one at once, and be repaired from SQLite when it fell behind.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import make_config
from helpers import index_pictures, precision
from milvus_server import ServerUnavailable, milvus_server
from pymilvus import MilvusClient

from indexer.cli.index_folder import index_directory
from indexer.config import IndexerConfig, ModelConfig
from indexer.errors import ConfigError
from indexer.model.embedder import Embedder
from indexer.records import PICTURE_VECTORS, ImageFacts, SearchFilters
from indexer.service import IndexService
from indexer.store import Store
from indexer.synthetic import ShapeSpec
from indexer.synthetic_clips import make_clip
from indexer.vectors.backend import open_backend

RED_CIRCLE_QUERY = "a red circle"


@pytest.fixture(scope="session")
def server_uri() -> Iterator[str | ServerUnavailable]:
    """A standalone Milvus server for the whole session, or why there is none."""
    try:
        with milvus_server() as uri:
            yield uri
    except ServerUnavailable as exc:
        yield exc


@pytest.fixture(params=["faiss", "milvus-lite", "milvus-server"])
def index_section(
    request: pytest.FixtureRequest, tmp_path: Path, server_uri: str | ServerUnavailable
) -> Iterator[dict[str, Any]]:
    """The ``[index]`` config of one backend; Milvus collections get a per-test name prefix."""
    if request.param == "faiss":
        yield {"backend": "faiss", "flat_max": 50}
        return
    prefix = f"test_{uuid.uuid4().hex[:12]}"
    if request.param == "milvus-lite":
        yield {"backend": "milvus", "milvus": {"uri": str(tmp_path / "milvus.db"), "nlist": 8}}
        return
    if isinstance(server_uri, ServerUnavailable):
        pytest.skip(f"no Milvus server: {server_uri}")
    yield {"backend": "milvus", "milvus": {"uri": server_uri, "name_prefix": prefix, "nlist": 8}}
    client = MilvusClient(server_uri)
    for name in client.list_collections():
        if name.startswith(prefix):
            client.drop_collection(name)
    client.close()


@pytest.fixture
def config(
    tmp_path: Path, model_config: ModelConfig, index_section: dict[str, Any]
) -> IndexerConfig:
    return make_config(tmp_path / "data", model_config, index=index_section)


@pytest.fixture
async def service(config: IndexerConfig, embedder: Embedder) -> AsyncIterator[IndexService]:
    async with await IndexService.open(config, embedder) as opened:
        yield opened


def red_circles(labels: dict[int, ShapeSpec]) -> set[int]:
    return {i for i, spec in labels.items() if spec.caption_en == RED_CIRCLE_QUERY}


async def test_text_search_finds_the_described_pictures(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    labels = await index_pictures(service, "group", held_out_pictures[:120])
    wanted = next(spec for spec in labels.values() if spec.caption_en == RED_CIRCLE_QUERY)

    hits = await service.search_text(["group"], RED_CIRCLE_QUERY, k=3)

    assert len(hits) == 3
    assert precision(hits, labels, wanted) == 1.0


async def test_a_small_chat_gets_k_results_of_its_own_beside_a_big_one(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    big = await index_pictures(service, "big", held_out_pictures[:200], prefix="big")
    small = await index_pictures(service, "small", held_out_pictures[200:212], prefix="small")

    hits = await service.search_text(["small"], RED_CIRCLE_QUERY, k=10)

    assert len(hits) == 10
    assert {hit.image.id for hit in hits} <= set(small)
    assert not {hit.image.id for hit in hits} & set(big)


async def test_a_new_picture_is_found_and_a_forgotten_one_is_gone_at_once(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    labels = await index_pictures(service, "group", held_out_pictures[:60])
    circles = red_circles(labels)
    first = await service.search_text(["group"], RED_CIRCLE_QUERY, k=len(circles))
    assert {hit.image.id for hit in first} == circles

    gone = sorted(circles)[0]
    await service.forget("group", [gone])
    after = await service.search_text(["group"], RED_CIRCLE_QUERY, k=len(circles) - 1)

    assert gone not in {hit.image.id for hit in after}
    assert {hit.image.id for hit in after} == circles - {gone}


async def test_a_store_behind_sqlite_is_repaired_at_start(
    config: IndexerConfig, embedder: Embedder, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    async with await IndexService.open(config, embedder) as service:
        labels = await index_pictures(service, "group", held_out_pictures[:60])
    circles = np.array(sorted(red_circles(labels)), dtype=np.int64)

    store = await Store.open_in(config.storage.data_dir)
    collection_id = (await store.collections.all())["group"]
    backend = await open_backend(
        config, store.vectors, PICTURE_VECTORS, embedder.identity, embedder.dim
    )
    await backend.load_all([collection_id])
    async with backend.editing(collection_id) as index:
        index.remove(circles)
    await backend.save_due(force=True)
    await backend.close()
    await store.close()

    async with await IndexService.open(config, embedder) as service:
        hits = await service.search_text(["group"], RED_CIRCLE_QUERY, k=len(circles))
        stats = await service.stats("group")

    assert {hit.image.id for hit in hits} == set(circles.tolist())
    assert stats.index_vectors == 60


async def test_reindex_after_a_model_change_fills_the_new_models_store(
    tmp_path: Path,
    config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for number, (data, spec) in enumerate(held_out_pictures[:40]):
        (pictures / f"{spec.slug}_{number}.jpg").write_bytes(data)
    async with await IndexService.open(config, embedder) as service:
        await index_directory(service, pictures, "album")

    other_model = ModelConfig(arch=config.model.arch, pretrained=None)
    other_config = IndexerConfig.model_validate({**config.model_dump(), "model": other_model})
    async with await IndexService.open(other_config) as service:
        before = await service.stats("album")
        progress = await service.reindex("album")
        after = await service.stats("album")
        hits = await service.search_text(["album"], RED_CIRCLE_QUERY, k=5)

    assert (before.index_vectors, before.needs_reindex) == (0, 40)
    assert (progress.done, progress.failed) == (40, 0)
    assert (after.index_vectors, after.needs_reindex) == (40, 0)
    assert len(hits) == 5
    expected_type = "Milvus IVF_SQ8" if config.index.backend == "milvus" else "Flat"
    assert after.index_type == expected_type


@pytest.mark.parametrize("index_section", ["milvus-lite", "milvus-server"], indirect=True)
async def test_a_small_chat_gets_k_results_from_sealed_indexed_segments(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    await index_pictures(service, "big", held_out_pictures[:200], prefix="big")
    small = await index_pictures(service, "small", held_out_pictures[200:212], prefix="small")
    settings = service.config.index.milvus
    client = MilvusClient(settings.uri)
    for name in client.list_collections():
        if name.startswith(settings.name_prefix):
            client.flush(name)
            await wait_for_index(client, name)
    client.close()

    hits = await service.search_text(["small"], RED_CIRCLE_QUERY, k=10)

    assert len(hits) == 10
    assert {hit.image.id for hit in hits} <= set(small)


async def wait_for_index(client: MilvusClient, name: str) -> None:
    """Waits until Milvus has built the vector index of every sealed segment."""
    for _ in range(120):
        described = client.describe_index(name, "vector")
        if described.get("pending_index_rows", 0) == 0 and described.get("state") == "Finished":
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"Milvus did not index {name}: {described}")


async def test_switching_from_faiss_to_milvus_sends_the_stored_vectors_without_the_model(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    faiss_config = make_config(tmp_path / "data", model_config)
    async with await IndexService.open(faiss_config, embedder) as service:
        labels = await index_pictures(service, "group", held_out_pictures[:60])
        on_faiss = await service.search_text(["group"], RED_CIRCLE_QUERY, k=5)

    milvus = {"backend": "milvus", "milvus": {"uri": str(tmp_path / "milvus.db")}}
    milvus_config = make_config(tmp_path / "data", model_config, index=milvus)
    async with await IndexService.open(milvus_config, embedder) as service:
        stats = await service.stats("group")
        on_milvus = await service.search_text(["group"], RED_CIRCLE_QUERY, k=5)

    assert (stats.index_type, stats.index_vectors, stats.needs_reindex) == (
        "Milvus IVF_SQ8",
        len(labels),
        0,
    )
    assert [hit.image.id for hit in on_milvus] == [hit.image.id for hit in on_faiss]


async def test_an_unreachable_milvus_is_a_clear_config_error_without_the_token(
    tmp_path: Path, model_config: ModelConfig, embedder: Embedder
) -> None:
    milvus = {"uri": "http://127.0.0.1:1", "token": "root:s3cret-token"}
    config = make_config(
        tmp_path / "data", model_config, index={"backend": "milvus", "milvus": milvus}
    )

    with pytest.raises(ConfigError, match=r"index\.milvus: cannot use Milvus at http://127") as err:
        await IndexService.open(config, embedder)

    assert "s3cret" not in str(err.value)


async def test_forgetting_a_picture_and_its_repost_counts_one_vector_less(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    for number, (data, _) in enumerate(held_out_pictures[:3]):
        facts = ImageFacts(source=f"upload:{number}", file_unique_id=f"u{number}")
        await service.add_image("group", facts, data=data)
    repost = await service.add_image(
        "group", ImageFacts(source="upload:again", file_unique_id="u0"), data=b"unused"
    )
    await service.wait_idle()
    assert repost.outcome == "repost" and repost.original_id is not None

    assert await service.forget("group", [repost.original_id]) == 2

    stats = await service.stats("group")
    assert (stats.images, stats.reposts, stats.index_vectors) == (2, 0, 2)


async def test_a_clip_is_found_by_its_one_bright_second_and_forgotten_frame_by_frame(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    """Seven dark seconds, then a red circle: only the frame index holds a vector near it."""
    circle = next(spec for _, spec in held_out_pictures if spec.caption_en == RED_CIRCLE_QUERY)
    stills = [(data, spec) for data, spec in held_out_pictures if spec != circle][:12]
    await index_pictures(service, "group", stills)
    clip = make_clip(circle, "mp4", seconds=8.0, dark_seconds=7.0, fps=2, size=64)
    added = await service.add_image("group", ImageFacts("upload:clip", kind="video"), data=clip)
    await service.wait_idle()
    collection_id = (await service.engine.store.collections.all())["group"]

    hits = await service.search_text(["group"], RED_CIRCLE_QUERY, k=1)
    assert hits[0].image.id == added.image_id
    assert hits[0].moment is not None and hits[0].moment >= 6.5
    assert (await service.engine.frames.describe(collection_id))[1] == 8

    await service.forget("group", [hits[0].image.id])
    assert (await service.engine.frames.describe(collection_id))[1] == 0


@pytest.mark.parametrize("index_section", ["milvus-lite", "milvus-server"], indirect=True)
async def test_two_backends_opening_one_new_milvus_collection_at_once_both_succeed(
    config: IndexerConfig,
) -> None:
    """The bot and its worker start together with a new model: one creates the collection
    and its index, the other finds them being created, and both can search."""
    store = await Store.open_in(config.storage.data_dir)
    # Milvus Lite serves one file from one server per process: started here, before the race,
    # both backends' clients talk to it as two programs talk to a Milvus server.
    keeper = MilvusClient(config.index.milvus.uri)
    try:
        for round_number in range(5):
            model_id = f"new-model-{round_number}"
            backends = await asyncio.gather(
                *(open_backend(config, store.vectors, PICTURE_VECTORS, model_id, 8) for _ in "ab")
            )
            for backend in backends:
                _, ids = await backend.search(1, np.ones((1, 8), dtype=np.float32), k=3)
                await backend.close()
                assert (ids == -1).all()
    finally:
        keeper.close()
        await store.close()


@pytest.mark.parametrize("index_section", ["milvus-lite"], indirect=True)
async def test_a_milvus_collection_of_another_dimension_is_a_clear_config_error(
    config: IndexerConfig,
) -> None:
    store = await Store.open_in(config.storage.data_dir)
    try:
        first = await open_backend(config, store.vectors, PICTURE_VECTORS, "model", 8)
        await first.close()
        with pytest.raises(ConfigError, match=r"16-dimensional float vectors.*vector dim 8"):
            await open_backend(config, store.vectors, PICTURE_VECTORS, "model", 16)
    finally:
        await store.close()


async def test_a_filtered_search_ranks_only_the_pictures_that_pass(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    """``from:`` reaches the vector store as the ids it may answer with (FAISS: an ID
    selector; Milvus: an ``id in [...]`` expression), so k of them come back."""
    posters = {}
    for number, (data, _) in enumerate(held_out_pictures[:60]):
        poster = 7 if number % 4 == 0 else 8
        result = await service.add_image(
            "group", ImageFacts(source=f"upload:{number}", poster_id=poster), data=data
        )
        assert result.image_id is not None
        posters[result.image_id] = poster
    await service.wait_idle()

    hits = await service.search_text(
        ["group"], RED_CIRCLE_QUERY, k=15, filters=SearchFilters(posters=("7",))
    )

    assert len(hits) == 15
    assert {posters[hit.image.id] for hit in hits} == {7}
