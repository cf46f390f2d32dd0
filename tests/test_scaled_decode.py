"""Large JPEGs are decoded at reduced scale for the model, with the same vectors and facts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from indexer.config import LimitsConfig
from indexer.embed.decode import decode_image, decode_scaled
from indexer.embed.pipeline import EmbeddingPipeline
from indexer.errors import BadImageError
from indexer.model.embedder import Embedder
from indexer.synthetic import ShapeSpec
from tests.conftest import jpeg_bytes
from tests.test_bad_input import LIMITS, UNUSABLE, encode


def test_large_jpeg_is_decoded_small_but_reports_its_full_size() -> None:
    data = jpeg_bytes(Image.new("RGB", (1280, 960), "orange"))
    image, size = decode_scaled(data, **LIMITS, min_side=224)
    assert size == (1280, 960)
    assert image.size == (320, 240)
    assert image.mode == "RGB"


def test_scaled_decode_keeps_exif_orientation_and_its_size() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when displayed
    data = encode(Image.new("RGB", (800, 400), "green"), "JPEG", exif=exif)
    image, size = decode_scaled(data, **LIMITS, min_side=100)
    assert size == (400, 800)
    assert image.size == (100, 200)


def test_pictures_other_than_jpeg_and_small_jpegs_are_decoded_whole() -> None:
    png = encode(Image.new("RGB", (1000, 600), "blue"), "PNG")
    assert decode_scaled(png, **LIMITS, min_side=224)[0].size == (1000, 600)
    small = jpeg_bytes(Image.new("RGB", (300, 300), "red"))
    assert decode_scaled(small, **LIMITS, min_side=224)[0].size == (300, 300)


@pytest.mark.parametrize("name", UNUSABLE)
def test_scaled_decode_refuses_what_decode_refuses(name: str) -> None:
    data, reason = UNUSABLE[name]
    with pytest.raises(BadImageError, match=reason):
        decode_scaled(data, **LIMITS, min_side=224)


def test_scaled_decode_gives_the_model_the_same_vectors(
    embedder: Embedder, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    side = embedder.input_side
    big = [
        jpeg_bytes(decode_image(data, **LIMITS).resize((8 * side, 6 * side), Image.BICUBIC))
        for data, _ in held_out_pictures[:32]
    ]
    pipeline = EmbeddingPipeline(embedder, LimitsConfig())
    try:
        decoded = [pipeline.decode(data) for data in big]
    finally:
        pipeline.close()
    assert {(d.width, d.height) for d in decoded} == {(8 * side, 6 * side)}
    whole = embedder.encode_images([decode_image(data, **LIMITS) for data in big])
    scaled = embedder.encode_pixels([pixels for d in decoded for pixels in d.pixels])
    assert np.sum(whole * scaled, axis=1).min() >= 0.99
