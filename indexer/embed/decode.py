"""Safe decoding of untrusted picture bytes into RGB Pillow images.

Group members post anything: truncated uploads, text files named ``.jpg``, decompression
bombs, CMYK or 16-bit files, transparent PNGs, animated GIFs. Everything that is not a usable
picture becomes a :class:`BadImageError` with a reason a person understands; everything that
is becomes an upright RGB image, the only form the model takes.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from indexer.errors import BadImageError

#: Transparent areas are shown on white, as chat apps display them.
_BACKGROUND = (255, 255, 255)
#: A picture longer than this many times its width (or wider than this many times its height)
#: keeps only its middle part of that shape. A model scales the short side to its input size,
#: so a 50000×1 strip would grow to 224×11 200 000 pixels (10.9 GB as floats); cropped, its
#: resized size is bounded whatever the header says. Models look at the centre square anyway.
MAX_ASPECT_RATIO = 20


def is_still_picture(data: bytes) -> bool:
    """Whether ``data`` is for :func:`decode_scaled`: a still picture, or bytes that cannot be
    anything else (empty, too damaged to tell). False for an animated GIF and for every format
    Pillow does not know (MP4, WebM, MOV...): those are clips (:mod:`indexer.embed.clips`).

    Only the header is read, and for a GIF whether a second frame follows.
    """
    if not data:
        return True
    try:
        with Image.open(io.BytesIO(data)) as image:
            return not (image.format == "GIF" and getattr(image, "is_animated", False))
    except UnidentifiedImageError:
        return False
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return True


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Decodes ``data`` into an upright RGB image, or raises :class:`BadImageError`.

    The pixel count is checked from the header before any pixel is decoded, so a bomb costs
    nothing. Animated images give their first frame.
    """
    image, _ = decode_scaled(data, max_bytes=max_bytes, max_pixels=max_pixels, min_side=None)
    return image


def decode_scaled(
    data: bytes, *, max_bytes: int, max_pixels: int, min_side: int | None
) -> tuple[Image.Image, tuple[int, int]]:
    """Like :func:`decode_image`, but JPEGs may be decoded at reduced scale.

    With ``min_side`` set, a JPEG is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT
    scaling, far cheaper than decoding every pixel and resizing afterwards) as long as both its
    sides stay at least ``min_side`` pixels, so a model that resizes to ``min_side`` still gets
    enough pixels. Returns the image and the full picture's upright (width, height).
    """
    if not data:
        raise BadImageError("the file is empty")
    if len(data) > max_bytes:
        raise BadImageError(f"the file is too large ({len(data):,} bytes, at most {max_bytes:,})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise BadImageError(
                    f"the picture is too large ({width}×{height} pixels, "
                    f"at most {max_pixels:,} pixels)"
                )
            image.seek(0)
            if min_side is not None and image.format == "JPEG":
                image.draft(None, (min_side, min_side))
            image.load()
    except BadImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImageError(f"the picture is too large (more than {max_pixels:,} pixels)") from None
    except UnidentifiedImageError:
        raise BadImageError(
            "the file is not a picture in a format the indexer reads (JPEG, PNG, WebP, GIF...)"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImageError(f"the picture is damaged or incomplete ({exc})") from None
    if width == 0 or height == 0:
        raise BadImageError("the picture has no pixels")
    stored_size = image.size
    upright = ImageOps.exif_transpose(_middle_within_aspect(image))
    turned = (upright.size[0] > upright.size[1]) != (stored_size[0] > stored_size[1])
    return to_rgb(upright), (height, width) if turned else (width, height)


def _middle_within_aspect(image: Image.Image) -> Image.Image:
    """The middle part of a long, thin picture, at most :data:`MAX_ASPECT_RATIO` : 1."""
    width, height = image.size
    short = min(width, height)
    longest = short * MAX_ASPECT_RATIO
    if max(width, height) <= longest:
        return image
    if width > height:
        left = (width - longest) // 2
        return image.crop((left, 0, left + longest, height))
    top = (height - longest) // 2
    return image.crop((0, top, width, top + longest))


def to_rgb(image: Image.Image) -> Image.Image:
    """Converts any Pillow mode to 8-bit RGB, flattening transparency onto white."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        image = _scale_to_8bit(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, _BACKGROUND)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _scale_to_8bit(image: Image.Image) -> Image.Image:
    """Maps a high-bit-depth greyscale image to 0–255 by its actual range.

    Pillow's own conversion clips 16-bit values at 255, which turns most such pictures white.
    """
    pixels = np.asarray(image, dtype=np.float64)
    low, high = float(pixels.min()), float(pixels.max())
    scaled = np.zeros_like(pixels) if high <= low else (pixels - low) * (255.0 / (high - low))
    return Image.fromarray(scaled.astype(np.uint8), mode="L")
