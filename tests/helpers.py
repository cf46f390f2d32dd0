"""Small helpers shared by the indexer tests."""

from __future__ import annotations

from collections.abc import Sequence

from indexer.records import ImageFacts
from indexer.service import IndexService, SearchHit
from indexer.synthetic import ShapeSpec


async def index_pictures(
    service: IndexService,
    collection: str,
    pictures: Sequence[tuple[bytes, ShapeSpec]],
    *,
    prefix: str = "upload",
) -> dict[int, ShapeSpec]:
    """Hands pictures over with their bytes, waits until embedded; returns id → label."""
    labels = {}
    for number, (data, spec) in enumerate(pictures):
        result = await service.add_image(
            collection, ImageFacts(source=f"{prefix}:{collection}/{number}"), data=data
        )
        assert result.outcome == "queued", result
        assert result.image_id is not None
        labels[result.image_id] = spec
    await service.wait_idle()
    return labels


def precision(hits: Sequence[SearchHit], labels: dict[int, ShapeSpec], wanted: ShapeSpec) -> float:
    """Fraction of the hits that show exactly the wanted colour and shape."""
    return sum(labels.get(hit.image.id) == wanted for hit in hits) / len(hits)
