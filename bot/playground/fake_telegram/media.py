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


#: What a file's first bytes say it is, for the page's ``<img>`` and ``<video>`` elements.
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG", "image/png"),
    (b"GIF8", "image/gif"),
    (b"\x1aE\xdf\xa3", "video/webm"),
)


def content_type_of(data: bytes) -> str:
    """The MIME type of a stored file by its first bytes (MP4's ``ftyp`` at offset 4; an
    HEIC picture has one too, of brand ``hei…``)."""
    if data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:11] != b"hei":
        return "video/mp4"
    return next(
        (mime for head, mime in _SIGNATURES if data.startswith(head)), "application/octet-stream"
    )


def is_animated_gif(data: bytes) -> bool:
    """Whether ``data`` is a GIF of more than one frame (sent as an animation, not a photo)."""
    if not data.startswith(b"GIF8"):
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            return bool(getattr(image, "is_animated", False))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return False


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
