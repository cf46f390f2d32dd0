"""Exact search while small; an approximate IVF index once large, without losing recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.config import IndexerConfig, ModelConfig
from indexer.embed.decode import decode_scaled
from indexer.model.embedder import Embedder
from indexer.service import IndexService
from indexer.synthetic import make_dataset
from indexer.vectors.faiss_index import IndexLayout, IndexPolicy, VectorIndex
from tests.conftest import jpeg_bytes, make_config
from tests.helpers import index_pictures


def test_policy_is_exact_up_to_flat_max_then_ivf_sized_by_count() -> None:
    policy = IndexPolicy(flat_max=20_000)
    assert policy.layout_for(20_000).is_exact
    assert policy.layout_for(20_001).nlist == 512
    assert policy.layout_for(1_000_000).nlist == 4096
    assert policy.layout_for(1_000_000).nprobe >= 64


def test_ivf_is_retrained_when_its_ideal_list_count_doubles_or_quarters() -> None:
    policy = IndexPolicy(flat_max=1000)
    current = policy.layout_for(100_000)
    assert current.nlist == 1024
    assert not policy.needs_rebuild(current, 120_000)
    assert policy.needs_rebuild(current, 150_000)
    assert policy.layout_for(150_000).nlist == 2048
    assert not policy.needs_rebuild(current, 20_000)
    assert policy.needs_rebuild(current, 5_000)
    assert policy.needs_rebuild(current, 900)


def test_both_layouts_delete_at_once() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(100, 2100)
    for layout in (IndexLayout(), IndexPolicy(flat_max=10).layout_for(2000)):
        index = VectorIndex.build(ids, vectors, layout, 32)
        assert index.remove(np.array([100, 101])) == 2
        _, found = index.search(vectors[:2], 5)
        assert 100 not in found and 101 not in found
        assert sorted(index.ids()) == list(range(102, 2100))


@pytest.fixture
def small_flat_config(tmp_path: Path, model_config: ModelConfig) -> IndexerConfig:
    return make_config(tmp_path / "data", model_config, index={"flat_max": 200})


async def test_switch_to_ivf_keeps_recall_at_10_against_exact_search(
    small_flat_config: IndexerConfig, embedder: Embedder
) -> None:
    pictures = [(jpeg_bytes(image), spec) for image, spec in make_dataset(900, seed=5150)]
    async with await IndexService.open(small_flat_config, embedder) as service:
        labels = await index_pictures(service, "big", pictures)
        stats = await service.stats("big")
        assert stats.index_type.startswith("IVF") and stats.index_vectors == 900
        # The exact index gets the very pixels the service embedded (JPEGs decoded at reduced
        # scale), so the comparison measures IVF alone, not two decodings.
        images = [
            decode_scaled(data, max_bytes=10**8, max_pixels=10**8, min_side=embedder.input_side)[0]
            for data, _ in pictures
        ]
        exact = VectorIndex.build(
            np.array(list(labels)), embedder.encode_images(images), IndexLayout(), embedder.dim
        )
        recalls = []
        for _, spec in pictures[:60]:
            _, truth = exact.search(embedder.encode_texts([spec.caption_en]), 10)
            hits = await service.search_text(["big"], spec.caption_en, k=10)
            recalls.append(len({hit.image.id for hit in hits} & set(truth[0])) / 10)
        assert np.mean(recalls) >= 0.95
