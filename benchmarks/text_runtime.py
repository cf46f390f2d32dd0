"""The text tower's runtimes side by side: torch fp32, bf16 and int8, ONNX Runtime int8.

Run from the repository root::

    .venv/bin/python -m benchmarks.text_runtime                    # the default model (~4 min)
    .venv/bin/python -m benchmarks.text_runtime --model ViT-B-32   # open_clip's own text tower

Each option encodes one query at a time through :class:`Embedder` (tokenise, trim the padding,
encode, normalise: the query path without the hop to the model thread), over ``--queries``
distinct queries after 10 warm-ups, the options interleaved query by query so that they share
the machine's state. Weights are random (none can be downloaded here; speed does not depend on
them). Reported per option: p50/p99 ms, × torch bf16, cosine to torch fp32 (lowest and median
over the queries), the text tower's weights in memory (for ONNX Runtime its file; the resident
memory its session added is printed as it loads). Beside them, the bounds of this machine
measured in the same run: the text tower's FLOPs for the first query over the bf16 matmul
ceiling (compute) and its weights over the memory bandwidth (a batch-1 query reads every
weight once).

Then retrieval on a trained model: recall@5 text→image of the tiny shapes model (open_clip's
own text tower) on 240 held-out pictures with its text tower in torch fp32, bf16 and the same
ONNX int8 path, so the int8 export is judged on weights that mean something.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.default_model import build_default
from benchmarks.embed import matmul_gflops
from benchmarks.query import phrases
from indexer.config import ModelConfig
from indexer.model.embedder import Embedder
from indexer.model.loading import LoadedModel, load_open_clip
from indexer.model.onnx_text import (
    OnnxTextEncoder,
    exported_text_tower,
    text_session,
    text_weights,
)
from indexer.model.text_trim import trimmed_tokens
from indexer.synthetic import make_dataset
from indexer.training.evaluation import evaluate_retrieval
from indexer.training.pairs import LoadedPair, Pair
from indexer.training.tiny_model import TINY_MODEL_NAME, ensure_tiny_model
from tests.conftest import CACHE_DIR, HELD_OUT_SEED

WARMUP = 10


def rss_mb() -> float:
    """This process's resident memory (``/proc/self/status``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_bandwidth_gbs(repeats: int = 5) -> float:
    """GB/s of copying 512 MB (read + write counted), the bound on reading weights once."""
    source = np.ones(64 << 20, dtype=np.float64)
    target = np.empty_like(source)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        seconds.append(time.perf_counter() - start)
    return 2 * source.nbytes / min(seconds) / 1e9


def tower_bytes(model: Any) -> int:
    """Bytes of the text tower's weights as held (quantised modules count their packed int8)."""
    total = 0
    for name, value in model.state_dict().items():
        if name.startswith("visual.") or not isinstance(value, torch.Tensor):
            continue
        total += value.numel() * value.element_size()
    return total


def matrix_weights(model: Any) -> int:
    """Text-tower weights read by a batch-1 query: all but the token embedding table (only
    the query's rows of it are read)."""
    embedding = 0
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding) and module.num_embeddings > 10_000:
            embedding += module.weight.numel()
    return text_weights(model) - embedding


def text_gflop(loaded: LoadedModel, query: str) -> tuple[float, int]:
    """GFLOP of one query through the text tower (trimmed) and its length in tokens."""
    tokens = trimmed_tokens(loaded.model, loaded.tokenizer([query]))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        loaded.model.encode_text(tokens)
    return counter.get_total_flops() / 1e9, int(tokens.shape[1])


def build(model_name: str, work: Path) -> LoadedModel:
    if model_name == "default":
        return build_default(work)
    return load_open_clip(ModelConfig(arch=model_name, pretrained=None))


def options(
    fp32: LoadedModel, identity: str, cache: Path
) -> tuple[dict[str, Embedder], dict[str, float], float]:
    """The embedders compared, the memory each one's text tower holds (MB), export seconds."""
    config = ModelConfig(precision="fp32", batch_size=32)
    bf16_model = copy.deepcopy(fp32.model).to(torch.bfloat16)
    int8_model = torch.ao.quantization.quantize_dynamic(
        copy.deepcopy(fp32.model), {torch.nn.Linear}, dtype=torch.qint8
    )
    start = time.perf_counter()
    file = exported_text_tower(fp32, identity, cache)
    export_seconds = time.perf_counter() - start
    embedders = {
        "torch fp32": Embedder(fp32, identity, config),
        "torch bf16": Embedder(
            LoadedModel(bf16_model, fp32.preprocess, fp32.tokenizer),
            identity,
            ModelConfig(precision="bf16", batch_size=32),
        ),
        "torch int8 (quantize_dynamic)": Embedder(
            LoadedModel(int8_model, fp32.preprocess, fp32.tokenizer), identity, config
        ),
    }
    memory = {
        "torch fp32": tower_bytes(fp32.model) / 1e6,
        "torch bf16": tower_bytes(bf16_model) / 1e6,
        "torch int8 (quantize_dynamic)": tower_bytes(int8_model) / 1e6,
    }
    for threads in (1, 2):
        name = f"ONNX Runtime int8, {threads} thread{'s' * (threads > 1)}"
        before = rss_mb()
        encoder = OnnxTextEncoder(text_session(file, threads), file)
        embedders[name] = Embedder(fp32, identity, config, encoder)
        print(f"{name}: session added {rss_mb() - before:.0f} MB resident", flush=True)
        memory[name] = file.stat().st_size / 1e6
    return embedders, memory, export_seconds


def time_interleaved(
    embedders: dict[str, Embedder], queries: list[str]
) -> tuple[dict[str, list[float]], dict[str, np.ndarray]]:
    """Milliseconds per query of each embedder, interleaved query by query, and the vectors."""
    for query in queries[:WARMUP]:
        for embedder in embedders.values():
            embedder.encode_texts([query])
    latencies: dict[str, list[float]] = {name: [] for name in embedders}
    vectors: dict[str, list[np.ndarray]] = {name: [] for name in embedders}
    for query in queries:
        for name, embedder in embedders.items():
            start = time.perf_counter()
            row = embedder.encode_texts([query])
            latencies[name].append(1000 * (time.perf_counter() - start))
            vectors[name].append(row[0])
    return latencies, {name: np.stack(rows) for name, rows in vectors.items()}


def tiny_recall(cache: Path) -> dict[str, tuple[float, float, float, float]]:
    """Text→image on the trained tiny model with each text runtime: recall@1, recall@5, mean
    rank, and the share of each query's top 5 pictures that torch fp32's top 5 also holds."""
    config = ModelConfig(
        arch=TINY_MODEL_NAME, pretrained=None, checkpoint=ensure_tiny_model(CACHE_DIR)
    )
    pictures = make_dataset(240, HELD_OUT_SEED, size=48)
    pairs = [
        LoadedPair(image, caption, f"p{number}", Pair(b"", caption, f"p{number}"))
        for number, (image, spec) in enumerate(pictures)
        for caption in spec.captions
    ]
    runs: dict[str, Callable[[], Embedder]] = {
        "torch fp32": lambda: Embedder.load(config.model_copy(update={"text_runtime": "torch"})),
        "torch bf16": lambda: Embedder.load(
            config.model_copy(update={"text_runtime": "torch", "precision": "bf16"})
        ),
        "ONNX Runtime int8": lambda: Embedder.load(
            config.model_copy(update={"text_runtime": "onnx-int8", "cache_dir": cache})
        ),
    }
    images = [image for image, _ in pictures]
    captions = list(dict.fromkeys(pair.caption for pair in pairs))
    results, top5 = {}, {}
    for name, load in runs.items():
        embedder = load()
        report = evaluate_retrieval(embedder, pairs).text_to_image
        scores = embedder.encode_texts(captions) @ embedder.encode_images(images).T
        top5[name] = np.argsort(-scores, axis=1)[:, :5]
        agreement = np.mean(
            [
                len(set(row) & set(reference)) / 5
                for row, reference in zip(top5[name], top5["torch fp32"], strict=True)
            ]
        )
        results[name] = (report.recall[1], report.recall[5], report.mean_rank, float(agreement))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("default", "ViT-B-32"), default="default")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}", flush=True)
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"open_clip {open_clip.__version__}",
        flush=True,
    )
    queries = [f"a {p}" for p in phrases(args.queries, np.random.default_rng(1))]
    with tempfile.TemporaryDirectory() as work:
        fp32 = build(args.model, Path(work))
        gflop, length = text_gflop(fp32, queries[0])
        embedders, memory, export_seconds = options(fp32, f"{args.model}/random", Path(work))
        print(f"export + quantise (first start): {export_seconds:.1f} s", flush=True)
        latencies, vectors = time_interleaved(embedders, queries)
        matrices = matrix_weights(fp32.model)
        recall = tiny_recall(Path(work))
    ceilings = {
        name: matmul_gflops(dtype, 5, torch.device("cpu"))
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
    }
    bandwidth = memory_bandwidth_gbs()
    print(f"load after: {os.getloadavg()}")
    print()
    bf16_p50 = statistics.median(latencies["torch bf16"])
    print(
        "| text tower runtime | p50 ms | p99 ms | × torch bf16 (speed) | cosine to fp32, lowest "
        "| median | text weights MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, times in latencies.items():
        cosines = np.sum(vectors[name] * vectors["torch fp32"], axis=1)
        p50, p99 = float(np.percentile(times, 50)), float(np.percentile(times, 99))
        print(
            f"| {name} | {p50:.2f} | {p99:.2f} | {bf16_p50 / p50:.2f} | {cosines.min():.4f} "
            f"| {np.median(cosines):.4f} | {memory[name]:.0f} |"
        )
    print()
    print(
        f"Bounds: {gflop:.2f} GFLOP a query of {length} tokens (first query); matmul ceiling "
        f"fp32 {ceilings['fp32']:.0f}, bf16 {ceilings['bf16']:.0f} GFLOP/s → compute bound "
        f"{1000 * gflop / ceilings['bf16']:.2f} ms in bf16; {matrices / 1e6:.1f} M weights read "
        f"a query at {bandwidth:.1f} GB/s (copy) → bandwidth bound "
        f"{1000 * 2 * matrices / bandwidth / 1e9:.2f} ms in bf16, "
        f"{1000 * matrices / bandwidth / 1e9:.2f} ms in int8"
    )
    print()
    print("Tiny shapes model, 240 held-out pictures, text→image:")
    print()
    print("| text tower | recall@1 | recall@5 | mean rank | top-5 shared with torch fp32 |")
    print("|---|---:|---:|---:|---:|")
    for name, (at1, at5, rank, agreement) in recall.items():
        print(f"| {name} | {at1:.3f} | {at5:.3f} | {rank:.2f} | {agreement:.3f} |")


if __name__ == "__main__":
    main()
