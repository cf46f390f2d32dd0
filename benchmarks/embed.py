"""Embedding throughput on this CPU (or a GPU): pictures end to end from JPEG bytes, and text.

Run from the repository root::

    .venv/bin/python -m benchmarks.embed           # full run (a few minutes on 2 cores)
    .venv/bin/python -m benchmarks.embed --quick   # fewer repeats and pictures
    .venv/bin/python -m benchmarks.embed --device cuda --models default ViT-B-32 --batches 1 32 256

Measures, in one process so the numbers share the machine's state, on ``--device`` at each
``--precision`` (``model.device``/``model.precision``'s rules, indexer/model/device.py):

* the device's matmul ceiling (2048³ at each precision), to read model-only and end-to-end
  speed as a share of it (with the load average before and after, since the machine may be
  shared);
* pictures/second from JPEG bytes (decode + preprocess + encode) through :class:`Embedder`,
  for ViT-B-32, the default architecture xlm-roberta-base-ViT-B-32 (``default``; both with
  random weights: throughput does not depend on them) and the tiny test model, at each batch
  size, with whole and scaled JPEG decoding (what the service's pipeline does), plus the
  model-only part of the same batches;
* a plain open_clip loop (``Image.open`` → ``preprocess`` → ``encode_image`` one at a time,
  fp32) as the baseline;
* text-query latency with ViT-B-32's text tower, batch 1, trimmed/untrimmed.

All figures are medians over repeats; the machine may be shared, so single runs are noisy.
Decoding always runs on the CPU, so on a GPU the end-to-end rates are bound by it.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from indexer.config import ModelConfig
from indexer.embed.decode import decode_image, decode_scaled
from indexer.errors import ModelLoadError
from indexer.model.device import autocast, inference_plan, select_device
from indexer.model.embedder import Embedder
from indexer.model.identity import model_identity
from indexer.model.loading import LoadedModel, load_open_clip
from indexer.model.text_trim import encode_text_trimmed
from indexer.training.tiny_model import TINY_MODEL_NAME, ensure_tiny_model
from tests.conftest import CACHE_DIR
from tests.tiny_xlmr import build_text_source, create_random, register_arch

#: Telegram sends photos at most 1280 px on the long side; that is what the bot decodes.
PHOTO_SIZE = (1280, 960)
MAX_BYTES = 50 * 1024 * 1024
MAX_PIXELS = 60_000_000
QUERY = "a dog running on the beach at sunset"
DEFAULT_ARCH = "xlm-roberta-base-ViT-B-32"
PRECISIONS = ("fp32", "bf16", "fp16")


def median_seconds(run: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``run`` after ``warmup`` untimed calls.

    A GPU runs work after the call that queued it returns, so each timing waits for it.
    """
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        _wait_for_gpu()
        start = time.perf_counter()
        run()
        _wait_for_gpu()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _wait_for_gpu() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def matmul_gflops(dtype: torch.dtype, repeats: int, device: torch.device) -> float:
    """GFLOP/s of one 2048³ matrix product: the device's practical ceiling for dense layers."""
    n = 2048
    a = torch.randn(n, n).to(device=device, dtype=dtype)
    b = torch.randn(n, n).to(device=device, dtype=dtype)
    seconds = median_seconds(lambda: a @ b, repeats)
    return 2 * n**3 / seconds / 1e9


def default_arch(work: Path) -> str:
    """The default architecture registered under another name, buildable without network.

    No weights can be downloaded here, so its text tower comes from a folder holding XLM-R
    base's text-model config and a tokenizer (as the tests do, tests/tiny_xlmr.py); speed does
    not depend on the weights' values.
    """
    source = build_text_source(work / "xlm-roberta-base")
    config = open_clip.get_model_config(DEFAULT_ARCH)
    return register_arch(f"bench-{DEFAULT_ARCH}", config, source, work / "cfg")


def photo_jpegs(count: int, seed: int = 0) -> list[bytes]:
    """Photo-sized JPEGs with smooth colour fields and noise, so they compress like photos."""
    rng = np.random.default_rng(seed)
    width, height = PHOTO_SIZE
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    pictures = []
    for _ in range(count):
        fx, fy, phase = [*rng.uniform(0.002, 0.02, 2).tolist(), rng.uniform(0, 6.3)]
        base = np.stack(
            [127 + 100 * np.sin(fx * x * (c + 1) + fy * y + phase + c) for c in range(3)],
            axis=-1,
        )
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        pictures.append(buffer.getvalue())
    return pictures


def image_gflop(loaded: LoadedModel) -> float:
    """GFLOP of one picture through the image tower, counted by torch (2 per multiply-add).

    Counted with autograd on: under ``inference_mode`` torch takes a fused attention kernel
    that the counter does not see, and would miss a third of ViT-B-32's work.
    """
    model = loaded.model
    dtype = next(model.parameters()).dtype
    size = loaded.preprocess(Image.new("RGB", (64, 64))).shape
    pixels = torch.zeros(1, *size, dtype=torch.float32, device=next(model.parameters()).device)
    with FlopCounterMode(display=False) as counter:
        model.float().encode_image(pixels)
    model.to(dtype)
    return counter.get_total_flops() / 1e9


@dataclass(frozen=True)
class ImageRow:
    model: str
    precision: str
    batch: int
    whole_decode: float
    end_to_end: float
    model_only: float
    gflop_per_image: float
    gflops: float
    ceiling: float


def measure_images(
    name: str,
    config: ModelConfig,
    jpegs: Sequence[bytes],
    batches: Sequence[int],
    repeats: int,
    ceilings: dict[str, float],
) -> list[ImageRow]:
    """Pictures/second end to end and model-only, per batch size, for one model and precision."""
    loaded = _load(config)
    gflop = image_gflop(loaded)
    embedder = Embedder(loaded, model_identity(config), config)
    rows = []
    for batch in batches:
        chunk = list(jpegs[: max(batch, 8)])

        def end_to_end(
            chunk: Sequence[bytes] = chunk, batch: int = batch, scaled: bool = True
        ) -> None:
            for start in range(0, len(chunk), batch):
                images = [
                    decode_scaled(
                        data,
                        max_bytes=MAX_BYTES,
                        max_pixels=MAX_PIXELS,
                        min_side=embedder.input_side if scaled else None,
                    )[0]
                    for data in chunk[start : start + batch]
                ]
                embedder.encode_pixels([embedder.preprocess(image) for image in images])

        pixels = [
            embedder.preprocess(decode_image(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS))
            for data in chunk[:batch]
        ]
        embedder.batch_size = batch
        whole = len(chunk) / median_seconds(lambda: end_to_end(scaled=False), repeats)
        e2e = len(chunk) / median_seconds(end_to_end, repeats)
        model_only = batch / median_seconds(lambda p=pixels: embedder.encode_pixels(p), repeats)
        rows.append(
            ImageRow(
                model=name,
                precision=config.precision,
                batch=batch,
                whole_decode=whole,
                end_to_end=e2e,
                model_only=model_only,
                gflop_per_image=gflop,
                gflops=model_only * gflop,
                ceiling=ceilings[config.precision],
            )
        )
        print(f"  {name} {config.precision} batch {batch}: {e2e:.1f} img/s", flush=True)
    return rows


def plain_open_clip_baseline(jpegs: Sequence[bytes], repeats: int, device: torch.device) -> float:
    """Pictures/second of the textbook open_clip loop: one picture at a time, fp32."""
    model, _, preprocess = open_clip.create_model_and_transforms(
        "ViT-B-32", pretrained=None, device=device
    )
    model.eval()
    chunk = list(jpegs[:8])

    def loop() -> None:
        with torch.no_grad():
            for data in chunk:
                image = Image.open(io.BytesIO(data)).convert("RGB")
                model.encode_image(preprocess(image).unsqueeze(0).to(device))

    return len(chunk) / median_seconds(loop, repeats)


def _untrimmed(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    return model.encode_text(tokens)


def text_latencies(
    repeats: int, device: torch.device, precisions: Sequence[str]
) -> list[tuple[str, str, float]]:
    """Median milliseconds to tokenize and encode one query with ViT-B-32's text tower."""
    rows = []
    for precision in precisions:
        config = ModelConfig(
            arch="ViT-B-32", pretrained=None, precision=precision, device=str(device)
        )
        loaded = load_open_clip(config)
        plan = inference_plan(device.type, precision)
        for label, encode in (("untrimmed", _untrimmed), ("trimmed", encode_text_trimmed)):

            def once(
                encode: Callable[[Any, torch.Tensor], torch.Tensor] = encode,
                loaded: LoadedModel = loaded,
                plan: Any = plan,
            ) -> None:
                with torch.inference_mode(), autocast(device, plan):
                    encode(loaded.model, loaded.tokenizer([QUERY]).to(device))

            rows.append((precision, label, 1000 * median_seconds(once, repeats, warmup=3)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller batches")
    parser.add_argument("--device", default="cpu", help="model.device: cpu (default) or cuda")
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=PRECISIONS,
        default=["fp32", "bf16"],
        help="model.precision values to measure (fp16: CUDA only)",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        choices=["ViT-B-32", "default", "tiny"],
        default=["ViT-B-32", "tiny"],
        help=f"models to measure (default: the default architecture, {DEFAULT_ARCH})",
    )
    parser.add_argument("--batches", nargs="+", type=int, help="batch sizes (default 1 8 32)")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    batches = args.batches or ((1, 8) if args.quick else (1, 8, 32))
    try:
        device = select_device(args.device)
        for precision in args.precision:
            inference_plan(device.type, precision)  # fp16 on a CPU is refused here
    except ModelLoadError as exc:
        parser.error(str(exc))
    torch.manual_seed(0)
    load_before = os.getloadavg()

    hardware = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine()
    )
    print(
        f"torch {torch.__version__}, open_clip {open_clip.__version__}, "
        f"{torch.get_num_threads()} threads, {device}: {hardware}",
        flush=True,
    )
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    ceilings = {p: matmul_gflops(dtypes[p], repeats, device) for p in args.precision}
    print("matmul 2048³: " + ", ".join(f"{p} {g:.0f} GFLOP/s" for p, g in ceilings.items()))

    jpegs = photo_jpegs(max(*batches, 8))
    baseline = plain_open_clip_baseline(jpegs, repeats, device)
    print(f"plain open_clip batch-1 loop, ViT-B-32 fp32: {baseline:.2f} img/s", flush=True)

    rows: list[ImageRow] = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.models:
            config = _model_config(name, Path(work)).model_copy(update={"device": args.device})
            for precision in args.precision:
                rows += measure_images(
                    name,
                    config.model_copy(update={"precision": precision}),
                    jpegs,
                    batches,
                    repeats,
                    ceilings,
                )
    texts = text_latencies(max(20, repeats), device, args.precision)

    print()
    print(
        "| model | precision | batch | end to end, whole decode img/s "
        "| end to end, scaled decode img/s | × baseline | model-only img/s "
        "| GFLOP/image | model GFLOP/s | model-only % of matmul ceiling "
        "| end to end % of matmul ceiling |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| ViT-B-32 (plain open_clip loop) | fp32 | 1 | {baseline:.2f} | | 1.00 | | | | | |")
    for r in rows:
        print(
            f"| {r.model} | {r.precision} | {r.batch} | {r.whole_decode:.2f} | {r.end_to_end:.2f} "
            f"| {r.end_to_end / baseline:.2f} | {r.model_only:.2f} | {r.gflop_per_image:.3g} "
            f"| {r.gflops:.1f} | {100 * r.gflops / r.ceiling:.1f}% "
            f"| {100 * r.end_to_end * r.gflop_per_image / r.ceiling:.1f}% |"
        )
    print()
    print("| text tower (ViT-B-32, batch 1) | padding | median ms |")
    print("|---|---|---:|")
    for precision, label, ms in texts:
        print(f"| {precision} | {label} | {ms:.2f} |")
    print()
    print(f"load average before: {load_before}, after: {os.getloadavg()}")


def _load(config: ModelConfig) -> LoadedModel:
    """The model of ``config`` as the service loads it; the default architecture (registered by
    :func:`default_arch`) at random weights, since its text tower has none on this disk."""
    if config.arch != f"bench-{DEFAULT_ARCH}":
        return load_open_clip(config)
    model, preprocess, tokenizer = create_random(config.arch)
    plan = inference_plan(select_device(config.device).type, config.precision)
    model.to(device=config.device, dtype=plan.weights)
    return LoadedModel(model=model, preprocess=preprocess, tokenizer=tokenizer)


def _model_config(name: str, work: Path) -> ModelConfig:
    """The configuration of one of ``--models`` (random weights but for the tiny model)."""
    if name == "tiny":
        checkpoint = ensure_tiny_model(CACHE_DIR)
        return ModelConfig(arch=TINY_MODEL_NAME, pretrained=None, checkpoint=checkpoint)
    arch = default_arch(work) if name == "default" else name
    return ModelConfig(arch=arch, pretrained=None)


if __name__ == "__main__":
    main()
