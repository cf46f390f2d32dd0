"""bf16 inference and trimmed text padding give the same vectors as the plain fp32 model."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch

from indexer.config import ModelConfig
from indexer.embed.decode import decode_image
from indexer.model.embedder import Embedder
from indexer.model.loading import load_open_clip
from indexer.model.text_trim import can_trim_text, encode_text_trimmed
from indexer.synthetic import ShapeSpec

#: Texts of very different lengths in one batch, so most rows are padded after their end.
TEXTS = [
    "a red circle",
    "cat!",
    "a photo of a small green triangle next to a big blue square on a white table, seen from above",
    "一个红色的圆",
    "",
]


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def bf16_embedder(model_config: ModelConfig) -> Embedder:
    return Embedder.load(model_config.model_copy(update={"precision": "bf16"}))


def test_bf16_picture_vectors_match_fp32(
    embedder: Embedder,
    bf16_embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    images = [
        decode_image(data, max_bytes=1 << 24, max_pixels=1 << 24)
        for data, _ in held_out_pictures[:64]
    ]
    pixels = [embedder.preprocess(image) for image in images]
    assert pixels[0].dtype == torch.float32
    cosines = _row_cosines(embedder.encode_pixels(pixels), bf16_embedder.encode_pixels(pixels))
    assert cosines.min() >= 0.99, cosines.min()


def test_bf16_text_vectors_match_fp32(embedder: Embedder, bf16_embedder: Embedder) -> None:
    cosines = _row_cosines(embedder.encode_texts(TEXTS), bf16_embedder.encode_texts(TEXTS))
    assert cosines.min() >= 0.99, cosines.min()


def test_bf16_model_really_runs_in_bf16(bf16_embedder: Embedder) -> None:
    model = bf16_embedder._model
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    tokens = bf16_embedder._tokenizer(TEXTS)
    assert encode_text_trimmed(model, tokens).dtype == torch.bfloat16


@pytest.mark.parametrize("which", ["tiny", "ViT-B-32"])
def test_trimmed_text_padding_gives_the_untrimmed_vectors(
    which: str, model_config: ModelConfig
) -> None:
    config = model_config if which == "tiny" else ModelConfig(arch="ViT-B-32", pretrained=None)
    loaded = load_open_clip(config)
    assert can_trim_text(loaded.model)
    tokens = loaded.tokenizer(TEXTS)
    with torch.inference_mode():
        full = loaded.model.encode_text(tokens).numpy()
        trimmed = encode_text_trimmed(loaded.model, tokens).numpy()
    assert _row_cosines(full, trimmed).min() >= 0.9999
    with torch.inference_mode():
        alone = encode_text_trimmed(loaded.model, tokens[:1]).numpy()
    assert _row_cosines(full[:1], alone).min() >= 0.9999


def test_bidirectional_text_towers_are_not_trimmed() -> None:
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    model.text_pool_type = "first"
    assert not can_trim_text(model)
    model.text_pool_type = "argmax"
    model.attn_mask = None
    assert not can_trim_text(model)
