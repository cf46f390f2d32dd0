"""Downloads have a deadline per attempt and never hold up the other pictures."""

from __future__ import annotations

import asyncio
from pathlib import Path

from indexer.config import ModelConfig
from indexer.model.embedder import Embedder
from indexer.records import ImageFacts
from indexer.service import IndexService
from indexer.synthetic import ShapeSpec
from tests.conftest import make_config


async def test_a_download_past_its_deadline_fails_its_attempt_and_others_are_indexed(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    config = make_config(
        tmp_path / "data", model_config, limits={"download_seconds": 0.3, "max_attempts": 2}
    )
    started: list[str] = []

    async def never_answers(source: str) -> bytes:
        started.append(source)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with await IndexService.open(config, embedder) as service:
        service.register_fetcher("stuck", never_answers)
        for number in range(2):
            await service.add_image("chat", ImageFacts(source=f"stuck:{number}"))
        for number, (data, _) in enumerate(held_out_pictures[:5]):
            path = tmp_path / f"good_{number}.jpg"
            path.write_bytes(data)
            await service.add_image("chat", ImageFacts(source=f"file:{path}"))
        await asyncio.wait_for(service.wait_idle(), 60)
        first_round = await service.stats("chat")
        for _ in range(600):  # the retry comes after a pause: a hang guard of 60 s
            stats = await service.stats("chat")
            if stats.pending == 0:
                break
            await asyncio.sleep(0.1)

    assert (first_round.images, first_round.failed, first_round.pending) == (5, 0, 2)

    assert (stats.images, stats.failed, stats.pending) == (5, 2, 0)
    assert sorted(started) == ["stuck:0", "stuck:0", "stuck:1", "stuck:1"]
