"""Pictures with known words in them: signs, memes, notes and screenshots, for the tests, the
benchmark (benchmarks/ocr.py) and the playground's demo group.

Chinese needs a CJK font, which Pillow does not ship: :func:`cjk_font` finds one installed
(``fonts-wqy-zenhei`` or Noto CJK, as scripts/test.sh and the Dockerfile install) and is None
without one, so callers can leave Chinese pictures out and say so. Latin text uses Pillow's own
scalable font, always there.
"""

from __future__ import annotations

import functools
import random
import shutil
import subprocess
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Style = Literal["sign", "meme", "note", "screenshot"]
STYLES: tuple[Style, ...] = ("sign", "meme", "note", "screenshot")
#: Where Debian's CJK font packages put their files, if ``fc-list`` is not there to ask.
_CJK_FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


@functools.cache
def cjk_font() -> Path | None:
    """An installed font with Chinese characters, or None."""
    if shutil.which("fc-list"):
        found = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, check=False
        ).stdout.split("\n")
        files = sorted(line.strip().rstrip(":") for line in found if line.strip())
        if files:
            return Path(files[0])
    return next((Path(file) for file in _CJK_FONT_FILES if Path(file).is_file()), None)


def has_cjk(text: str) -> bool:
    return any("\u3000" <= character <= "\u9fff" for character in text)


def font(size: int, text: str) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font that can draw ``text``: the CJK one for Chinese, else Pillow's own."""
    if has_cjk(text):
        path = cjk_font()
        if path is None:
            raise LookupError("no CJK font is installed (apt-get install fonts-wqy-zenhei)")
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def photo_background(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A photo-like background: a gradient, soft blobs of colour and sensor noise."""
    width, height = size
    top = np.array([rng.randint(40, 220) for _ in range(3)], np.float32)
    bottom = np.array([rng.randint(40, 220) for _ in range(3)], np.float32)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    pixels = np.broadcast_to(top + (bottom - top) * ramp, (height, width, 3)).copy()
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        radius = rng.randint(min(size) // 10, min(size) // 3)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(min(size) / 25))
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 6, (height, width, 3))
    noisy = np.clip(np.asarray(image, np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(noisy)


def lettered_picture(
    lines: list[str],
    style: Style,
    size: tuple[int, int] = (640, 480),
    *,
    seed: int = 0,
    rotation: float = 0.0,
) -> Image.Image:
    """A picture of ``style`` showing ``lines``, turned by ``rotation`` degrees."""
    rng = random.Random(seed)
    width, height = size
    image = (
        Image.new("RGB", size, (250, 250, 250) if rng.random() < 0.7 else (30, 32, 36))
        if style == "screenshot"
        else photo_background(size, rng)
    )
    draw = ImageDraw.Draw(image)
    text_size = max(18, width // (26 if style == "screenshot" else 14))
    if style == "screenshot":
        ink = (20, 20, 20) if image.getpixel((0, 0))[0] > 128 else (235, 235, 235)
        draw.rectangle((0, 0, width, text_size * 2), fill=(0, 120, 215))
        y = text_size * 3
        for line in lines:
            draw.text((text_size, y), line, fill=ink, font=font(text_size, line))
            y += int(text_size * 1.8)
    elif style == "sign":
        plate = (rng.randint(0, 60), rng.randint(60, 120), rng.randint(100, 180))
        margin = width // 12
        top = height // 2 - len(lines) * text_size
        draw.rectangle(
            (margin, top - text_size // 2, width - margin, top + len(lines) * text_size * 2),
            fill=plate,
            outline=(255, 255, 255),
            width=4,
        )
        for index, line in enumerate(lines):
            _centred(draw, line, width, top + index * text_size * 2, text_size, (255, 255, 255))
    elif style == "meme":
        places = [height // 12, height - height // 12 - text_size * 2]
        for line, y in zip(lines, places + places[-1:] * len(lines), strict=False):
            _centred(draw, line, width, y, int(text_size * 1.3), (255, 255, 255), outline=True)
    else:  # a note: a paper card on the photo
        card = (width // 10, height // 5, width - width // 10, height - height // 5)
        draw.rectangle(card, fill=(246, 238, 200))
        text_size = min(text_size, int((card[3] - card[1]) / (len(lines) * 1.6 + 1)))
        y = card[1] + text_size
        for line in lines:
            draw.text(
                (card[0] + text_size // 2, y), line, fill=(30, 30, 90), font=font(text_size, line)
            )
            y += int(text_size * 1.6)
    if rotation:
        image = image.rotate(rotation, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
    return image


def _centred(
    draw: ImageDraw.ImageDraw,
    line: str,
    width: int,
    y: int,
    size: int,
    fill: tuple[int, int, int],
    *,
    outline: bool = False,
) -> None:
    face = font(size, line)
    left, _, right, _ = draw.textbbox((0, 0), line, font=face)
    x = max(4, (width - (right - left)) // 2)
    stroke = max(2, size // 12) if outline else 0
    draw.text((x, y), line, fill=fill, font=face, stroke_width=stroke, stroke_fill=(0, 0, 0))
