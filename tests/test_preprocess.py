"""Pictures are preprocessed in numpy, with the tensors open_clip's torch steps make."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image
from torchvision import transforms

from indexer.config import ModelConfig
from indexer.embed.decode import decode_scaled
from indexer.model.embedder import Embedder
from indexer.model.loading import load_open_clip
from indexer.model.preprocess import without_torch_ops
from indexer.synthetic import make_dataset
from tests.conftest import jpeg_bytes


def _pictures() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (960, 1280, 3), dtype=np.uint8))
    photo, _ = decode_scaled(jpeg_bytes(noise), max_bytes=1 << 24, max_pixels=1 << 24, min_side=224)
    shapes = [image for image, _ in make_dataset(3, 7)]
    return [photo, noise.resize((31, 200)), Image.new("L", (50, 40), 128), *shapes]


@pytest.mark.parametrize("arch", ["tiny", "ViT-B-32"])
def test_numpy_preprocessing_gives_torchs_tensors_bit_for_bit(
    arch: str, model_config: ModelConfig
) -> None:
    if arch == "tiny":
        preprocess = load_open_clip(model_config).preprocess
    else:
        _, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    in_numpy = without_torch_ops(preprocess)
    assert in_numpy is not preprocess
    for picture in _pictures():
        expected = preprocess(picture)
        found = in_numpy(picture)
        assert found.dtype == torch.float32 and found.is_contiguous()
        torch.testing.assert_close(found, expected, atol=1e-6, rtol=0)


def test_the_embedders_picture_vectors_are_those_of_torchs_preprocessing(
    embedder: Embedder, model_config: ModelConfig
) -> None:
    torch_preprocess = load_open_clip(model_config).preprocess
    pictures = _pictures()
    expected = embedder.encode_pixels([torch_preprocess(p.convert("RGB")) for p in pictures])
    found = embedder.encode_images([p.convert("RGB") for p in pictures])
    np.testing.assert_allclose(found, expected, atol=1e-6)


def test_other_preprocessing_is_kept_as_it_is() -> None:
    custom = transforms.Compose([transforms.Resize(32), transforms.ToTensor()])
    assert without_torch_ops(custom) is custom
    assert without_torch_ops(len) is len
