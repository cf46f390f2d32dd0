"""What indexing clips costs: a 1-minute 720p clip, and 10-second phone clips (1080p, 30 fps).

The clips are at a phone's bit rates (720p at 5 Mbit/s, 1080p at 15 Mbit/s: what a phone's
camera records), so their size and decoding work are realistic.

Run from the repository root::

    .venv/bin/python -m benchmarks.clips                  # ViT-B-32 (random weights)
    .venv/bin/python -m benchmarks.clips --model tiny     # the tiny test model

Clips are generated first (H.264, shapes that move over a noisy background, so the encoder has
work to do and the decoder too), then each is indexed through the service (``add_image`` and
``wait_idle``: decode, frames, embedding, commit) into a fresh data folder, and timed. The
decode/embed split times the same steps alone through ``service.engine`` (the parts the
service runs): ``pipeline.decode`` (PyAV decoding, the choice of frames, preprocessing) and the
model on those frames. Memory: the process's peak resident set (``VmHWM``) after loading the
model, and while indexing, from a peak reset once the clips were generated.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from indexer.config import IndexerConfig, ModelConfig
from indexer.records import ImageFacts
from indexer.service import Embedder, IndexService
from indexer.synthetic import ALL_SPECS, draw_shape
from indexer.training.tiny_model import TINY_MODEL_NAME, ensure_tiny_model
from tests.conftest import CACHE_DIR


def make_video(seconds: int, width: int, height: int, fps: int, bit_rate: int, seed: int) -> bytes:
    """An H.264 MP4 at about a phone's bit rate: a shape that changes every 2 s, moving over a
    noisy background that pans, with fresh grain in every frame."""
    rng = np.random.default_rng(seed)
    background = rng.integers(0, 90, (height, 2 * width, 3), dtype=np.uint8)
    grain = [rng.integers(0, 12, (height, width, 3), dtype=np.uint8) for _ in range(7)]
    shapes = [
        np.asarray(draw_shape(ALL_SPECS[(seed + i) % len(ALL_SPECS)], random.Random(i), height))
        for i in range(seconds // 2 + 1)
    ]
    output = io.BytesIO()
    with av.open(output, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bit_rate
        for index in range(seconds * fps):
            pan = (index * 3) % width
            frame = background[:, pan : pan + width] + grain[index % len(grain)]
            shift = (index * 4) % max(1, width - height)
            frame[:, shift : shift + height] = shapes[index // (2 * fps)]
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return output.getvalue()


def peak_mib() -> float:
    """The process's peak resident set since the start or the last :func:`reset_peak`."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Starts a new peak at the current resident set (Linux: ``clear_refs`` 5)."""
    Path("/proc/self/clear_refs").write_text("5")


async def index_one(service: IndexService, data: bytes, name: str) -> float:
    """Seconds from handing a clip over to its vector committed."""
    started = time.perf_counter()
    result = await service.add_image("bench", ImageFacts(f"upload:{name}", kind="video"), data)
    await service.wait_idle()
    record = (await service.images([result.image_id or 0]))[result.image_id or 0]
    assert record.status == "indexed", record.error
    return time.perf_counter() - started


async def split(service: IndexService, data: bytes) -> tuple[float, float, int]:
    """(decode seconds, embed seconds, frames) of one clip, the steps timed alone."""
    pipeline = service.engine.pipeline
    started = time.perf_counter()
    decoded = await asyncio.to_thread(pipeline.decode, data)
    decoded_at = time.perf_counter()
    await pipeline.run_model(pipeline.embedder.encode_pixels, decoded.pixels)
    return decoded_at - started, time.perf_counter() - decoded_at, len(decoded.pixels)


async def run(model: ModelConfig, phone_clips: int) -> None:
    embedder = Embedder.load(model)
    print(f"model {embedder.identity}; peak RSS after loading it: {peak_mib():.0f} MiB")
    started = time.perf_counter()
    minute = make_video(60, 1280, 720, 30, 5_000_000, seed=1)
    phones = [make_video(10, 1920, 1080, 30, 15_000_000, seed=10 + i) for i in range(phone_clips)]
    print(
        f"generated in {time.perf_counter() - started:.1f} s: 60 s 720p30 "
        f"({len(minute) / 2**20:.1f} MiB), {phone_clips} × 10 s 1080p30 "
        f"({statistics.mean(map(len, phones)) / 2**20:.1f} MiB each)"
    )
    reset_peak()
    print(f"resident before indexing (model and generated clips held): {peak_mib():.0f} MiB")
    with tempfile.TemporaryDirectory() as folder:
        config = IndexerConfig.model_validate(
            {"model": model.model_dump(), "storage": {"data_dir": Path(folder)}}
        )
        async with await IndexService.open(config, embedder) as service:
            decode, embed, frames = await split(service, minute)
            total = await index_one(service, minute, "minute")
            print(
                f"1-minute 720p clip: {total:.2f} s indexed ({frames} frames: "
                f"decode {decode:.2f} s, embed {embed:.2f} s)"
            )
            splits = [await split(service, data) for data in phones]
            started = time.perf_counter()
            for number, data in enumerate(phones):
                await index_one(service, data, f"phone-{number}")
            elapsed = time.perf_counter() - started
            print(
                f"10-second 1080p clips: {phone_clips / elapsed:.2f} clips/s "
                f"({elapsed / phone_clips:.2f} s each; median decode "
                f"{statistics.median(s[0] for s in splits):.2f} s, embed "
                f"{statistics.median(s[1] for s in splits):.2f} s)"
            )
    print(f"peak RSS after indexing: {peak_mib():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["ViT-B-32", "tiny"], default="ViT-B-32")
    parser.add_argument("--phone-clips", type=int, default=5)
    options = parser.parse_args()
    if options.model == "tiny":
        model = ModelConfig(
            arch=TINY_MODEL_NAME, pretrained=None, checkpoint=ensure_tiny_model(CACHE_DIR)
        )
    else:
        model = ModelConfig(arch="ViT-B-32", pretrained=None)
    asyncio.run(run(model, options.phone_clips))


if __name__ == "__main__":
    main()
