"""The tiny test model: its synthetic world, its training loop and the committed checkpoint."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

import open_clip
import torch

from indexer.synthetic import ALL_SPECS, make_dataset
from indexer.training.loop import TrainConfig, train_contrastive
from indexer.training.tiny_model import (
    COMMITTED_CHECKPOINT,
    TINY_MODEL_NAME,
    create_tiny_model,
    evaluate_tiny_model,
    read_card,
    register_tiny_config,
    training_code_hash,
)
from tests.conftest import HELD_OUT_SEED


def test_dataset_is_balanced_and_the_same_for_the_same_seed() -> None:
    first = make_dataset(len(ALL_SPECS) * 2, seed=3)
    again = make_dataset(len(ALL_SPECS) * 2, seed=3)
    assert Counter(spec for _, spec in first) == Counter({spec: 2 for spec in ALL_SPECS})
    assert [(im.tobytes(), spec) for im, spec in first] == [
        (im.tobytes(), spec) for im, spec in again
    ]


def test_every_caption_fits_the_text_context_uncut() -> None:
    register_tiny_config()
    tokenizer = open_clip.get_tokenizer(TINY_MODEL_NAME)
    captions = [caption for spec in ALL_SPECS for caption in spec.captions]
    tokens = tokenizer(captions)
    # A caption that fills the context is cut short: its last token would not be end-of-text.
    assert (tokens[:, -1] == 0).all()
    assert ALL_SPECS[0].caption_en == "a red circle"
    assert ALL_SPECS[0].caption_zh == "一个红色的圆形"


def test_committed_checkpoint_was_made_by_the_current_code() -> None:
    card = read_card(COMMITTED_CHECKPOINT)
    assert card is not None, f"{COMMITTED_CHECKPOINT} or its card is missing"
    assert card["code_hash"] == training_code_hash(), (
        "the tiny model's code changed: run `python -m indexer.training.tiny_model "
        "--out indexer/assets/tiny-clip.pt` and commit the new checkpoint and card"
    )


def test_checkpoint_is_a_small_half_precision_state_dict(tiny_checkpoint: Path) -> None:
    state = torch.load(tiny_checkpoint, weights_only=True)
    assert all(t.dtype == torch.float16 for t in state.values() if t.is_floating_point())
    assert tiny_checkpoint.stat().st_size < 12_000_000


def test_tiny_model_finds_colour_and_shape_in_held_out_pictures(tiny_checkpoint: Path) -> None:
    register_tiny_config()
    model, _, preprocess = open_clip.create_model_and_transforms(
        TINY_MODEL_NAME, pretrained=str(tiny_checkpoint)
    )
    model.eval()
    tokenizer = open_clip.get_tokenizer(TINY_MODEL_NAME)

    metrics = evaluate_tiny_model(model, preprocess, tokenizer, n_per_pair=8, seed=HELD_OUT_SEED)

    assert metrics["gallery_size"] >= 200
    assert metrics["text_to_image_en"] >= 0.8
    assert metrics["text_to_image_zh"] >= 0.8
    assert metrics["image_to_image"] >= 0.8


def _train_briefly(steps: int) -> list[float]:
    """Losses of a fresh tiny model trained on 32 pairs, always from the same start."""
    torch.manual_seed(0)
    model, preprocess, tokenizer = create_tiny_model()
    pairs = [(image, spec.caption_en) for image, spec in make_dataset(32, seed=5)]
    config = TrainConfig(steps=steps, batch_size=16, lr=2e-3, seed=0)
    return train_contrastive(model, pairs, preprocess, tokenizer, config)


def test_a_few_training_steps_lower_the_loss() -> None:
    losses = _train_briefly(steps=24)
    assert statistics.mean(losses[-4:]) < 0.8 * statistics.mean(losses[:4])


def test_training_is_deterministic_given_the_seed() -> None:
    assert _train_briefly(steps=3) == _train_briefly(steps=3)
