"""Pictures the way Telegram stores them: one upload becomes several sizes.

Telegram re-encodes a photo into a ladder of JPEG sizes (90, 320, 800 px … plus the large
one) and lists them smallest first in ``message.photo``. The fake keeps the uploaded bytes
unchanged as the last, largest size, so a test can compare what the bot downloads with what
it sent.
"""

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

THUMBNAIL_SIDES = (90, 320, 800)
# What a photo that Pillow cannot read claims to be; tests send corrupt photos on purpose.
UNREADABLE_SIZE = (1280, 960)


@dataclass(frozen=True)
class Rendition:
    """One size of a picture: its bytes and pixel dimensions."""

    data: bytes
    width: int
    height: int


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height if Pillow can read ``data`` as an image, else ``None``."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def photo_renditions(data: bytes) -> list[Rendition]:
    """The sizes Telegram would list for ``data``, smallest first, the original bytes last.

    Bytes that are not a readable image still become a photo (one size, made-up dimensions),
    so a bot's handling of corrupt downloads can be tested.
    """
    size = image_size(data)
    if size is None:
        return [Rendition(data, *UNREADABLE_SIZE)]
    width, height = size
    renditions = [_thumbnail(data, side) for side in THUMBNAIL_SIDES if side < max(width, height)]
    return [*renditions, Rendition(data, width, height)]


def _thumbnail(data: bytes, side: int) -> Rendition:
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB")
        small.thumbnail((side, side))
        out = io.BytesIO()
        small.save(out, format="JPEG", quality=80)
        return Rendition(out.getvalue(), small.width, small.height)
