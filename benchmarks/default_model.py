"""Speed of the default model, xlm-roberta-base-ViT-B-32, on this CPU (random weights).

Run from the repository root::

    .venv/bin/python -m benchmarks.default_model [--repeats 3]

No weights can be downloaded here, so the architecture is built with random weights
(:func:`benchmarks.embed.default_arch`); speed does not depend on the weights' values.
``python -m benchmarks.embed --models default`` measures it on other devices and batch
sizes. Measured in one process,
each against a plain open_clip loop in the same run:

* pictures/second from 1280×960 JPEG bytes through :class:`Embedder` (scaled decode,
  preprocess, batch 32), fp32 and bf16, and the textbook loop (``Image.open`` → ``preprocess``
  → ``encode_image`` one at a time, fp32);
* one text query's tokenize + encode latency through :class:`Embedder` (padding trimmed),
  fp32 and bf16, and the plain ``model.encode_text(tokenizer([query]))`` (77 tokens, fp32);
* pictures/second as a share of the matmul ceiling (2048³) measured in the same process, end
  to end and model only, with the load average before and after;
* preprocessing a picture with open_clip's torch steps against the embedder's numpy steps,
  alone and while another thread keeps the model busy (as in the service).

Medians over repeats; the machine may be shared with other work, so compare ratios.
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from benchmarks.embed import (
    DEFAULT_ARCH,
    MAX_BYTES,
    MAX_PIXELS,
    QUERY,
    default_arch,
    image_gflop,
    matmul_gflops,
    median_seconds,
    photo_jpegs,
)
from indexer.config import ModelConfig
from indexer.embed.decode import decode_scaled
from indexer.model.embedder import Embedder
from indexer.model.loading import LoadedModel
from indexer.model.onnx_text import open_text_encoder
from tests.tiny_xlmr import create_random

PICTURES = 32


def build_default(work: Path) -> LoadedModel:
    """The default architecture with random weights, built without network."""
    model, preprocess, tokenizer = create_random(default_arch(work))
    return LoadedModel(model=model, preprocess=preprocess, tokenizer=tokenizer)


def default_embedder(precision: str, work: Path, text_runtime: str = "torch") -> Embedder:
    """An :class:`Embedder` for the default architecture (random weights) at ``precision``,
    its text tower in ``text_runtime`` (``model.text_runtime``; the int8 export is cached in
    the user's cache folder, keyed by the seeded weights, so only the first run exports)."""
    loaded = build_default(work)
    if precision == "bf16":
        loaded.model.to(torch.bfloat16)
    config = ModelConfig(precision=precision, batch_size=32, text_runtime=text_runtime)
    identity = f"{DEFAULT_ARCH}/random"
    return Embedder(loaded, identity, config, open_text_encoder(loaded, identity, config))


def preprocess_ms(
    embedder: Embedder, torch_preprocess: Any, images: list[Image.Image], busy: bool
) -> tuple[float, float]:
    """Median ms a picture of open_clip's preprocessing (torch steps) and of the embedder's
    (numpy steps), interleaved picture by picture; with ``busy``, while another thread keeps
    the model encoding pictures, as the decode threads run beside the model thread."""
    stop = threading.Event()
    pixels = [embedder.preprocess(image) for image in images[:8]]

    def keep_model_busy() -> None:
        while not stop.is_set():
            embedder.encode_pixels(pixels)

    worker = threading.Thread(target=keep_model_busy)
    if busy:
        worker.start()
    times: dict[str, list[float]] = {"torch": [], "numpy": []}
    try:
        for image in images:
            for name, run in (("torch", torch_preprocess), ("numpy", embedder.preprocess)):
                start = time.perf_counter()
                run(image)
                times[name].append(1000 * (time.perf_counter() - start))
    finally:
        stop.set()
        if busy:
            worker.join()
    return statistics.median(times["torch"]), statistics.median(times["numpy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    print(f"load average before: {os.getloadavg()}", flush=True)
    ceilings = {
        "fp32": matmul_gflops(torch.float32, 5, torch.device("cpu")),
        "bf16": matmul_gflops(torch.bfloat16, 5, torch.device("cpu")),
    }
    print(f"matmul 2048³: fp32 {ceilings['fp32']:.0f}, bf16 {ceilings['bf16']:.0f} GFLOP/s")
    with tempfile.TemporaryDirectory() as work:
        fp32 = build_default(Path(work))
    jpegs = photo_jpegs(PICTURES)
    plain = fp32.model

    def plain_pictures() -> None:
        with torch.no_grad():
            for data in jpegs[:8]:
                image = Image.open(io.BytesIO(data)).convert("RGB")
                plain.encode_image(fp32.preprocess(image).unsqueeze(0))

    def plain_query() -> None:
        with torch.no_grad():
            plain.encode_text(fp32.tokenizer([QUERY]))

    gflop = image_gflop(fp32)
    baseline_images = 8 / median_seconds(plain_pictures, args.repeats)
    baseline_ms = 1000 * median_seconds(plain_query, 5 * args.repeats, warmup=3)
    print(f"plain open_clip loop: {baseline_images:.1f} img/s, query {baseline_ms:.1f} ms")
    for precision in ("fp32", "bf16"):
        config = ModelConfig(precision=precision, batch_size=32)
        model = plain if precision == "fp32" else copy.deepcopy(plain).to(torch.bfloat16)
        embedder = Embedder(
            LoadedModel(model, fp32.preprocess, fp32.tokenizer), DEFAULT_ARCH, config
        )

        def pictures(embedder: Embedder = embedder) -> None:
            images = [
                decode_scaled(
                    d, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, min_side=embedder.input_side
                )[0]
                for d in jpegs
            ]
            embedder.encode_pixels([embedder.preprocess(image) for image in images])

        pixels = [
            embedder.preprocess(
                decode_scaled(
                    d, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, min_side=embedder.input_side
                )[0]
            )
            for d in jpegs
        ]
        model_only = PICTURES / median_seconds(
            lambda e=embedder, p=pixels: e.encode_pixels(p), args.repeats
        )

        def query(embedder: Embedder = embedder) -> None:
            embedder.encode_texts([QUERY])

        rate = PICTURES / median_seconds(pictures, args.repeats)
        ms = 1000 * median_seconds(query, 5 * args.repeats, warmup=3)
        ceiling = ceilings[precision]
        print(
            f"Embedder {precision}: {rate:.1f} img/s ({rate / baseline_images:.2f}x plain, "
            f"{100 * rate * gflop / ceiling:.0f}% of the {precision} matmul ceiling end to end; "
            f"model only {model_only:.1f} img/s, {100 * model_only * gflop / ceiling:.0f}%), "
            f"query {ms:.1f} ms ({baseline_ms / ms:.2f}x faster than plain)",
            flush=True,
        )
        images = [
            decode_scaled(
                d, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, min_side=embedder.input_side
            )[0]
            for d in jpegs
        ]
        for busy in (False, True):
            torch_ms, numpy_ms = preprocess_ms(embedder, fp32.preprocess, images, busy)
            print(
                f"  preprocess a picture{' beside the model' if busy else ''}: torch steps "
                f"{torch_ms:.2f} ms, numpy steps {numpy_ms:.2f} ms",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
