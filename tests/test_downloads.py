"""Downloads have a deadline per attempt and never hold up the other pictures."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from indexer.config import ModelConfig
from indexer.model.embedder import Embedder
from indexer.records import ImageFacts, ReindexProgress
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


async def test_a_reindex_goes_on_past_a_hanging_download_and_reports_it_failed(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    """One picture's download hangs during a reindex (as a dead Telegram connection would):
    the other pictures are re-embedded meanwhile, not after its deadline, and the reindex ends
    once that deadline fails the hanging one (counted as failed; its old vector stays)."""
    deadline = 5.0
    config = make_config(tmp_path / "data", model_config, limits={"download_seconds": deadline})
    pictures = {f"remote:{number}": data for number, (data, _) in enumerate(held_out_pictures[:9])}
    hang = asyncio.Event()  # set once indexing is done: from then on remote:0 never answers
    hanging = asyncio.Event()
    gave_up: list[float] = []

    async def fetch(source: str) -> bytes:
        if source == "remote:0" and hang.is_set():
            hanging.set()
            try:
                await asyncio.Event().wait()
            finally:
                gave_up.append(time.monotonic())
        return pictures[source]

    reports: list[tuple[int, int, bool]] = []

    async def record(progress: ReindexProgress) -> None:
        reports.append((progress.done, progress.failed, bool(gave_up)))

    async with await IndexService.open(config, embedder) as service:
        service.register_fetcher("remote", fetch)
        for source in pictures:  # remote:0 first: it is in the reindex's first batch
            await service.add_image("chat", ImageFacts(source=source))
        await asyncio.wait_for(service.wait_idle(), 60)
        assert (await service.stats("chat")).images == len(pictures)

        hang.set()
        started = time.monotonic()
        result = await asyncio.wait_for(service.reindex("chat", record), deadline + 30)
        took = time.monotonic() - started

    assert hanging.is_set() and len(gave_up) == 1
    assert (result.done, result.total, result.failed) == (9, 9, 1)
    # Every other picture was re-embedded while remote:0 was still hanging.
    assert (8, 0, False) in reports, reports
    assert reports[-1] == (9, 1, True), reports
    assert took < deadline + 20  # the work plus one deadline, not one deadline per batch
