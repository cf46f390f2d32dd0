"""Searches find the right pictures: the tiny model's retrieval, end to end through the service."""

from __future__ import annotations

import statistics

import pytest

from indexer.service import IndexService
from indexer.synthetic import ALL_SPECS, ShapeSpec
from tests.helpers import index_pictures, precision


@pytest.fixture
async def indexed(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> dict[int, ShapeSpec]:
    return await index_pictures(service, "shapes", held_out_pictures)


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_text_query_top5_shows_the_described_colour_and_shape(
    service: IndexService, indexed: dict[int, ShapeSpec], language: str
) -> None:
    scores = []
    for spec in ALL_SPECS:
        query = spec.caption_en if language == "en" else spec.caption_zh
        hits = await service.search_text(["shapes"], query, k=5)
        assert len(hits) == 5
        scores.append(precision(hits, indexed, spec))
    assert statistics.mean(scores) >= 0.8


async def test_image_query_top5_shows_the_same_colour_and_shape(
    service: IndexService,
    indexed: dict[int, ShapeSpec],
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    scores = []
    for data, spec in held_out_pictures[::4]:
        hits = await service.search_image(["shapes"], data, k=5)
        assert all(hit.score < 0.9999 for hit in hits), "the query picture found itself"
        scores.append(precision(hits, indexed, spec))
    assert statistics.mean(scores) >= 0.8


async def test_results_are_sorted_and_paged_without_repeats(
    service: IndexService, indexed: dict[int, ShapeSpec]
) -> None:
    first = await service.search_text(["shapes"], "a red circle", k=5)
    second = await service.search_text(["shapes"], "a red circle", k=5, offset=5)
    scores = [hit.score for hit in first + second]
    assert scores == sorted(scores, reverse=True)
    assert not {h.image.id for h in first} & {h.image.id for h in second}


async def test_search_never_returns_another_collections_pictures(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    red_circles = [p for p in held_out_pictures if p[1].slug == "red_circle"]
    others = [p for p in held_out_pictures if p[1].slug != "red_circle"][:40]
    group_a = await index_pictures(service, "group-a", others)
    group_b = await index_pictures(service, "group-b", red_circles)
    hits = await service.search_text(["group-a"], "a red circle", k=10)
    assert hits and {hit.image.id for hit in hits} <= set(group_a)
    assert all(hit.image.collection == "group-a" for hit in hits)
    both = await service.search_text(["group-a", "group-b"], "a red circle", k=5)
    assert {hit.image.id for hit in both} <= set(group_b)
