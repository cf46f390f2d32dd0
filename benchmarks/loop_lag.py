"""Does the bot's event loop stay responsive while pictures are indexed and queries arrive?

Run from the repository root::

    .venv/bin/python -m benchmarks.loop_lag                 # the tiny model (seconds)
    .venv/bin/python -m benchmarks.loop_lag --vit-b-32      # ViT-B-32, random weights (minutes)

It opens a real :class:`IndexService` on a temporary folder, hands it a burst of pictures
(640×640 JPEGs) as the bot would, sends a text query every 100 ms while they are embedded, and
meanwhile measures event-loop lag: how late a 10 ms timer fires. Reported: lag p50/p99/max,
the queries' latency p50/p99 during the burst, and the burst's throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import tempfile
import time
from pathlib import Path

from indexer.config import IndexerConfig, ModelConfig
from indexer.records import ImageFacts
from indexer.service import IndexService
from indexer.synthetic import ALL_SPECS, draw_shape
from indexer.training.tiny_model import TINY_MODEL_NAME, ensure_tiny_model

TICK_SECONDS = 0.01
QUERY_EVERY_SECONDS = 0.1


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def jpegs(count: int) -> list[bytes]:
    rng = random.Random(7)
    pictures = []
    for number in range(count):
        buffer = io.BytesIO()
        draw_shape(ALL_SPECS[number % len(ALL_SPECS)], rng, size=640).save(buffer, "JPEG")
        pictures.append(buffer.getvalue())
    return pictures


async def measure(model: ModelConfig, pictures: list[bytes], data_dir: Path) -> dict[str, float]:
    config = IndexerConfig(model=model).model_copy(
        update={"storage": IndexerConfig().storage.model_copy(update={"data_dir": data_dir})}
    )
    async with await IndexService.open(config) as service:
        lags: list[float] = []
        latencies: list[float] = []
        done = asyncio.Event()

        async def tick() -> None:
            loop = asyncio.get_running_loop()
            while not done.is_set():
                started = loop.time()
                await asyncio.sleep(TICK_SECONDS)
                lags.append(loop.time() - started - TICK_SECONDS)

        async def ask() -> None:
            while not done.is_set():
                started = time.perf_counter()
                await service.search_text(["burst"], "a red circle", k=5)
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(QUERY_EVERY_SECONDS)

        await service.add_image("burst", ImageFacts(source="upload:seed"), data=pictures[0])
        await service.wait_idle()
        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        for number, data in enumerate(pictures[1:], start=1):
            await service.add_image("burst", ImageFacts(source=f"upload:{number}"), data=data)
        asker = asyncio.create_task(ask())
        await service.wait_idle()
        elapsed = time.perf_counter() - started
        done.set()
        await asyncio.gather(ticker, asker)
    return {
        "pictures/s": (len(pictures) - 1) / elapsed,
        "lag p50 ms": 1000 * percentile(lags, 0.5),
        "lag p99 ms": 1000 * percentile(lags, 0.99),
        "lag max ms": 1000 * max(lags),
        "queries": len(latencies),
        "query p50 ms": 1000 * statistics.median(latencies),
        "query p99 ms": 1000 * percentile(latencies, 0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vit-b-32", action="store_true", help="ViT-B-32 with random weights")
    parser.add_argument("--pictures", type=int, default=500)
    args = parser.parse_args()
    if args.vit_b_32:
        model = ModelConfig(arch="ViT-B-32", pretrained=None)
    else:
        checkpoint = ensure_tiny_model(Path.home() / ".cache" / "clip-search-bot")
        model = ModelConfig(arch=TINY_MODEL_NAME, pretrained=None, checkpoint=checkpoint)
    pictures = jpegs(args.pictures + 1)
    with tempfile.TemporaryDirectory() as folder:
        results = asyncio.run(measure(model, pictures, Path(folder)))
    print(f"| model | {' | '.join(results)} |")
    print(f"|---|{'---:|' * len(results)}")
    values = " | ".join(f"{value:.1f}" for value in results.values())
    print(f"| {model.arch} | {values} |")


if __name__ == "__main__":
    main()
