"""Bad input gets a clear error and disturbs nothing else."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from indexer.embed.decode import decode_image
from indexer.errors import BadImageError, BadQueryError, UnknownCollectionError
from indexer.records import ImageFacts
from indexer.service import IndexService
from indexer.synthetic import ShapeSpec
from tests.conftest import jpeg_bytes
from tests.helpers import index_pictures

LIMITS = {"max_bytes": 50_000_000, "max_pixels": 60_000_000}


def encode(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def png_bomb() -> bytes:
    """A 30000×30000 PNG: about 100 KB on disk, 900 megapixels once decoded."""
    return encode(Image.new("1", (30_000, 30_000)), "PNG")


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 40), colour) for colour in ("red", "green", "blue")]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:])


UNUSABLE = {
    "empty file": (b"", "empty"),
    "text file named .jpg": (b"this is not a picture\n" * 20, "not a picture"),
    "truncated JPEG": (jpeg_bytes(Image.new("RGB", (300, 300), "red"))[:400], "damaged"),
    "30000x30000 PNG bomb": (png_bomb(), "too large"),
}


@pytest.mark.parametrize("name", UNUSABLE)
def test_unusable_file_is_refused_with_a_reason(name: str) -> None:
    data, reason = UNUSABLE[name]
    with pytest.raises(BadImageError, match=reason):
        decode_image(data, **LIMITS)


def test_animated_gif_gives_its_first_frame() -> None:
    image = decode_image(animated_gif(), **LIMITS)
    assert image.mode == "RGB"
    assert image.getpixel((20, 20)) == pytest.approx((255, 0, 0), abs=8)


def test_cmyk_jpeg_becomes_rgb_with_the_right_colour() -> None:
    cmyk = Image.new("CMYK", (40, 40), (0, 255, 255, 0))  # pure red in CMYK
    image = decode_image(encode(cmyk, "JPEG", quality=95), **LIMITS)
    assert image.mode == "RGB"
    red, green, blue = image.getpixel((20, 20))
    assert red > 200 and green < 60 and blue < 60


def test_16bit_png_keeps_its_contrast() -> None:
    gradient = (np.arange(64 * 64, dtype=np.uint32).reshape(64, 64) * 16).astype(np.uint16)
    image = decode_image(encode(Image.fromarray(gradient), "PNG"), **LIMITS)
    assert image.mode == "RGB"
    assert image.getpixel((0, 0))[0] < 10 and image.getpixel((63, 63))[0] > 245


def test_transparent_png_is_shown_on_white() -> None:
    picture = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    picture.paste((0, 0, 255, 255), (10, 10, 30, 30))
    image = decode_image(encode(picture, "PNG"), **LIMITS)
    assert image.getpixel((2, 2)) == (255, 255, 255)
    assert image.getpixel((20, 20)) == (0, 0, 255)


def test_exif_orientation_is_applied() -> None:
    wide = Image.new("RGB", (80, 40), "green")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when displayed
    image = decode_image(encode(wide, "JPEG", exif=exif), **LIMITS)
    assert image.size == (40, 80)


async def test_bad_files_fail_alone_while_good_ones_are_indexed(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    odd_but_fine = {
        "animated GIF": animated_gif(),
        "CMYK JPEG": encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG"),
        "16-bit PNG": encode(Image.fromarray(np.full((64, 64), 30000, np.uint16)), "PNG"),
        "transparent PNG": encode(Image.new("RGBA", (64, 64), (255, 0, 0, 128)), "PNG"),
    }
    handed_over = {}
    for name, data in {**{n: d for n, (d, _) in UNUSABLE.items()}, **odd_but_fine}.items():
        result = await service.add_image("mixed", ImageFacts(source=f"upload:{name}"), data=data)
        handed_over[name] = result.image_id
    good = await index_pictures(service, "mixed", held_out_pictures[:20])
    records = await service.images(list(handed_over.values()))
    for name, image_id in handed_over.items():
        record = records[image_id]
        expected = "failed" if name in UNUSABLE else "indexed"
        assert record.status == expected, (name, record.error)
        if name in UNUSABLE:
            assert UNUSABLE[name][1] in (record.error or "")
    stats = await service.stats("mixed")
    assert stats.images == len(good) + len(odd_but_fine)
    assert stats.failed == len(UNUSABLE)
    assert stats.index_vectors == stats.images


@pytest.mark.parametrize(
    ("query", "message"), [("", "empty"), ("   \n", "empty"), ("x" * 10_000, "too long")]
)
async def test_unanswerable_query_gets_a_clear_error(
    service: IndexService,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
    query: str,
    message: str,
) -> None:
    await index_pictures(service, "q", held_out_pictures[:5])
    with pytest.raises(BadQueryError, match=message):
        await service.search_text(["q"], query)
    assert await service.search_text(["q"], "a red circle", k=3)


async def test_search_by_a_corrupt_picture_is_refused(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    await index_pictures(service, "q", held_out_pictures[:5])
    with pytest.raises(BadImageError):
        await service.search_image(["q"], b"GIF89a broken")


async def test_unknown_collection_is_named_in_the_error(service: IndexService) -> None:
    with pytest.raises(UnknownCollectionError, match="nowhere"):
        await service.search_text(["nowhere"], "a red circle")
    with pytest.raises(UnknownCollectionError, match="nowhere"):
        await service.stats("nowhere")
