"""The tiny CLIP model that tests and the offline demo use in place of downloaded weights.

It is trained from scratch on the synthetic shapes world (:mod:`indexer.synthetic`) in about a
minute on two idle CPU cores, and learns colour and shape from English and Chinese captions well
enough for retrieval tests to mean something. The checkpoint in ``indexer/assets`` is reproduced
by ``python -m indexer.training.tiny_model --out indexer/assets/tiny-clip.pt``; a JSON card
beside it records the hash of the code that made it, so that a checkpoint made by older code is
never used silently: :func:`ensure_tiny_model` retrains instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path

import open_clip
import torch
from PIL import Image
from torch import nn

from indexer import synthetic
from indexer.atomic import atomic_file
from indexer.synthetic import ALL_SPECS
from indexer.training import loop
from indexer.training.loop import Preprocess, Progress, Tokenizer, TrainConfig

TINY_MODEL_NAME = "tiny-clip-rn48"
_INDEXER_DIR = Path(__file__).resolve().parent.parent
_CONFIG_DIR = _INDEXER_DIR / "model_configs"
COMMITTED_CHECKPOINT = _INDEXER_DIR / "assets" / "tiny-clip.pt"

TRAIN_PICTURES = 6000
"""Distinct training pictures; augmentation makes up for drawing no more."""

TRAIN_CONFIG = TrainConfig(steps=800, batch_size=64, lr=2e-3, warmup_fraction=0.04)
"""Training schedule; its seed is replaced by the seed given to :func:`train_tiny_model`."""

EVAL_PICTURES_PER_PAIR = 8
"""Held-out pictures per colour x shape pair: 240 in all, 7 true matches for each query."""

HELD_OUT_SEED_OFFSET = 1_000_003
"""Added to the training seed to draw held-out pictures that training never saw."""


def register_tiny_config() -> None:
    """Make :data:`TINY_MODEL_NAME` known to open_clip; safe to call any number of times."""
    if TINY_MODEL_NAME not in open_clip.list_models():
        open_clip.add_model_config(_CONFIG_DIR)


def training_code_hash() -> str:
    """SHA-256 of everything that decides the trained weights: the code and the model config.

    A checkpoint whose card carries another hash was made by other code and may behave
    differently, so it must not be used as if it were current.
    """
    digest = hashlib.sha256()
    for path in (
        _INDEXER_DIR / "synthetic.py",
        Path(loop.__file__),
        Path(__file__),
        _CONFIG_DIR / f"{TINY_MODEL_NAME}.json",
    ):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def card_path(checkpoint: Path) -> Path:
    """Where the JSON card describing ``checkpoint`` lives: beside it, ending in ``.json``."""
    return checkpoint.with_suffix(".json")


def create_tiny_model(
    checkpoint: Path | None = None,
) -> tuple[nn.Module, Preprocess, Tokenizer]:
    """The tiny model in eval mode with its preprocessing and tokenizer; random if no checkpoint."""
    register_tiny_config()
    model, _, preprocess = open_clip.create_model_and_transforms(
        TINY_MODEL_NAME, pretrained=str(checkpoint) if checkpoint else None
    )
    model.eval()
    return model, preprocess, open_clip.get_tokenizer(TINY_MODEL_NAME)


@torch.no_grad()
def _encode_images(
    model: nn.Module, preprocess: Preprocess, images: Sequence[Image.Image]
) -> torch.Tensor:
    batch = torch.stack([preprocess(image) for image in images])
    return model.encode_image(batch, normalize=True)  # type: ignore[operator]


@torch.no_grad()
def _encode_texts(model: nn.Module, tokenizer: Tokenizer, texts: list[str]) -> torch.Tensor:
    return model.encode_text(tokenizer(texts), normalize=True)  # type: ignore[operator]


def _precision_at_5(
    scores: torch.Tensor, query_specs: list[int], gallery_specs: list[int]
) -> float:
    """Mean share of each query's five best-scoring gallery items that have the query's label."""
    top = scores.topk(5, dim=1).indices
    gallery = torch.tensor(gallery_specs)
    hits = gallery[top] == torch.tensor(query_specs)[:, None]
    return hits.float().mean().item()


def evaluate_tiny_model(
    model: nn.Module,
    preprocess: Preprocess,
    tokenizer: Tokenizer,
    n_per_pair: int = EVAL_PICTURES_PER_PAIR,
    seed: int = HELD_OUT_SEED_OFFSET,
) -> dict[str, float]:
    """Retrieval precision@5 on freshly drawn pictures, by cosine similarity of embeddings.

    A hit is a picture with the query's colour AND shape. ``text_to_image_en``/``_zh`` query with
    the canonical caption of every colour x shape pair; ``image_to_image`` queries with every
    gallery picture, the picture itself excluded. ``seed`` must differ from the training seed.
    """
    gallery = synthetic.make_dataset(n_per_pair * len(ALL_SPECS), seed)
    labels = [ALL_SPECS.index(spec) for _, spec in gallery]
    image_features = _encode_images(model, preprocess, [image for image, _ in gallery])
    metrics = {"gallery_size": float(len(gallery))}
    for language in ("en", "zh"):
        captions = [getattr(spec, f"caption_{language}") for spec in ALL_SPECS]
        text_features = _encode_texts(model, tokenizer, captions)
        scores = text_features @ image_features.T
        metrics[f"text_to_image_{language}"] = _precision_at_5(
            scores, list(range(len(ALL_SPECS))), labels
        )
    scores = image_features @ image_features.T
    scores.fill_diagonal_(float("-inf"))
    metrics["image_to_image"] = _precision_at_5(scores, labels, labels)
    return metrics


def _training_pairs(n: int, seed: int) -> list[tuple[Image.Image, str]]:
    """``n`` synthetic pictures, each with one of its captions (English or Chinese) at random."""
    rng = random.Random(seed)
    return [(image, rng.choice(spec.captions)) for image, spec in synthetic.make_dataset(n, seed)]


def train_tiny_model(out_path: Path, seed: int = 0, progress: Progress | None = None) -> Path:
    """Train the tiny model from scratch and save it at ``out_path`` with its card.

    The checkpoint is a plain state_dict in float16 (half the size; it loads into the float32
    model as is) and is written last, so its presence means the card beside it is complete.
    """
    started = time.perf_counter()
    config = dataclasses.replace(TRAIN_CONFIG, seed=seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model, preprocess, tokenizer = create_tiny_model()
    pairs = _training_pairs(TRAIN_PICTURES, seed)
    losses = loop.train_contrastive(model, pairs, preprocess, tokenizer, config, progress)
    train_seconds = time.perf_counter() - started

    metrics = evaluate_tiny_model(model, preprocess, tokenizer, seed=seed + HELD_OUT_SEED_OFFSET)
    card = {
        "model": TINY_MODEL_NAME,
        "code_hash": training_code_hash(),
        "seed": seed,
        "train_pictures": TRAIN_PICTURES,
        "steps": config.steps,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "final_loss": round(sum(losses[-20:]) / len(losses[-20:]), 4),
        "train_seconds": round(train_seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "open_clip_version": open_clip.__version__,
        "held_out_metrics": {k: round(v, 4) for k, v in metrics.items()},
    }
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    checkpoint = io.BytesIO()  # saved via memory: a file's name would end up inside the archive
    torch.save(state, checkpoint)
    with atomic_file(card_path(out_path)) as (handle, _):
        handle.write((json.dumps(card, indent=2) + "\n").encode())
    with atomic_file(out_path) as (handle, _):
        handle.write(checkpoint.getvalue())
    return out_path


def read_card(checkpoint: Path) -> dict[str, object] | None:
    """The card of ``checkpoint``, or None if it has none or the checkpoint is missing."""
    card = card_path(checkpoint)
    if not (checkpoint.is_file() and card.is_file()):
        return None
    return json.loads(card.read_text())


def ensure_tiny_model(cache_dir: Path, progress: Progress | None = None) -> Path:
    """A checkpoint of the tiny model made by the current code, training one if there is none.

    Prefers the committed checkpoint; then one cached in ``cache_dir`` under the code hash;
    otherwise trains into ``cache_dir`` (a few minutes).
    """
    code_hash = training_code_hash()
    committed = read_card(COMMITTED_CHECKPOINT)
    if committed is not None and committed.get("code_hash") == code_hash:
        return COMMITTED_CHECKPOINT
    cached = cache_dir / f"tiny-clip-{code_hash[:16]}.pt"
    if read_card(cached) is not None:
        return cached
    return train_tiny_model(cached, progress=progress)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: train the tiny model and print its card."""
    parser = argparse.ArgumentParser(description="Train the tiny test model; print its card.")
    parser.add_argument("--out", type=Path, default=COMMITTED_CHECKPOINT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def report(step: int, loss: float) -> None:
        if step % 50 == 0:
            print(f"step {step}/{TRAIN_CONFIG.steps}  loss {loss:.3f}", flush=True)

    path = train_tiny_model(args.out, seed=args.seed, progress=report)
    print(card_path(path).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
