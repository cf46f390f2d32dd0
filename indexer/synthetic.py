"""A synthetic "shapes world": pictures of one coloured shape, with English and Chinese captions.

No CLIP weights can be downloaded where this project is tested, so it trains its own tiny model
on these pictures (see :mod:`indexer.training.tiny_model`). Every picture is fully described by its
:class:`ShapeSpec`, which lets tests check retrieval against known labels. The shape colours are
saturated and the backgrounds are low-saturation tints, so colour never hides in the background.
"""

from __future__ import annotations

import colorsys
import math
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw


@dataclass(frozen=True)
class Colour:
    """A shape colour: its English name, its Chinese name and the RGB it is drawn with."""

    en: str
    zh: str
    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class Shape:
    """A shape kind with its English and Chinese names."""

    en: str
    zh: str


COLOURS: tuple[Colour, ...] = (
    Colour("red", "红色", (220, 30, 30)),
    Colour("green", "绿色", (30, 170, 50)),
    Colour("blue", "蓝色", (30, 70, 220)),
    Colour("yellow", "黄色", (245, 215, 20)),
    Colour("purple", "紫色", (140, 45, 185)),
    Colour("orange", "橙色", (245, 125, 15)),
)

SHAPES: tuple[Shape, ...] = (
    Shape("circle", "圆形"),
    Shape("square", "正方形"),
    Shape("triangle", "三角形"),
    Shape("star", "五角星"),
    Shape("cross", "十字形"),
)


@dataclass(frozen=True)
class ShapeSpec:
    """What a picture shows: one shape of one colour; equal specs mean the same kind of picture."""

    colour: Colour
    shape: Shape

    @property
    def caption_en(self) -> str:
        """The canonical English caption, e.g. "a red circle"."""
        return f"a {self.colour.en} {self.shape.en}"

    @property
    def caption_zh(self) -> str:
        """The canonical Chinese caption, e.g. "一个红色的圆形"."""
        return f"一个{self.colour.zh}的{self.shape.zh}"

    @property
    def captions(self) -> tuple[str, ...]:
        """Every caption for this picture, canonical ones first; variety helps training."""
        c, s = self.colour, self.shape
        return (
            self.caption_en,
            self.caption_zh,
            f"a photo of a {c.en} {s.en}",
            f"{c.en} {s.en}",
            f"a picture of a {c.en} {s.en}",
            f"一个{c.zh}{s.zh}",
            f"{c.zh}的{s.zh}",
            f"一张{c.zh}{s.zh}的图片",
        )

    @property
    def slug(self) -> str:
        """A file-name-safe label, e.g. "red_circle"."""
        return f"{self.colour.en}_{self.shape.en}"


ALL_SPECS: tuple[ShapeSpec, ...] = tuple(ShapeSpec(c, s) for c in COLOURS for s in SHAPES)


def _background(rng: random.Random) -> tuple[int, int, int]:
    """A grey, dark or pastel tone whose saturation stays far below any shape colour's."""
    hue = rng.random()
    saturation = rng.uniform(0.0, 0.15)
    value = rng.uniform(0.15, 0.92)
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


def _regular_points(
    cx: float, cy: float, radii: list[float], angle: float
) -> list[tuple[float, float]]:
    """Vertices spread evenly around a centre, the i-th at distance ``radii[i]``."""
    n = len(radii)
    return [
        (
            cx + r * math.cos(angle + 2 * math.pi * i / n),
            cy + r * math.sin(angle + 2 * math.pi * i / n),
        )
        for i, r in enumerate(radii)
    ]


def _cross_points(cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """The 12 corners of a plus sign with arms reaching ``r`` from the centre."""
    h = 0.33 * r
    corners = [(h, -r), (h, -h), (r, -h), (r, h), (h, h), (h, r)]
    corners += [(-x, -y) for x, y in corners]
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    return [(cx + x * cos_a - y * sin_a, cy + x * sin_a + y * cos_a) for x, y in corners]


def draw_shape(spec: ShapeSpec, rng: random.Random, size: int = 128) -> Image.Image:
    """Draw ``spec`` at a random place, size and rotation on a random plain background.

    The shape always lies wholly inside the picture and covers a clear share of it, so the
    picture is recognisable after it is shrunk to a model's input size.
    """
    image = Image.new("RGB", (size, size), _background(rng))
    draw = ImageDraw.Draw(image)
    r = rng.uniform(0.18, 0.38) * size
    cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
    angle = rng.uniform(0, 2 * math.pi)
    fill = spec.colour.rgb
    kind = spec.shape.en
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif kind == "square":
        draw.polygon(_regular_points(cx, cy, [r] * 4, angle), fill=fill)
    elif kind == "triangle":
        draw.polygon(_regular_points(cx, cy, [r] * 3, angle), fill=fill)
    elif kind == "star":
        draw.polygon(_regular_points(cx, cy, [r, 0.42 * r] * 5, angle), fill=fill)
    elif kind == "cross":
        draw.polygon(_cross_points(cx, cy, r, angle), fill=fill)
    else:
        raise ValueError(f"no drawing rule for shape {kind!r}")
    return image


def make_dataset(n: int, seed: int, size: int = 128) -> list[tuple[Image.Image, ShapeSpec]]:
    """``n`` pictures in a seeded random order, balanced over every colour x shape pair.

    Each pair appears ``n // len(ALL_SPECS)`` or one more times; the same seed always gives the
    same pictures, and different seeds give different ones (used for held-out evaluation).
    """
    rng = random.Random(seed)
    specs = [ALL_SPECS[i % len(ALL_SPECS)] for i in range(n)]
    rng.shuffle(specs)
    return [(draw_shape(spec, rng, size), spec) for spec in specs]


def write_image_folder(directory: Path, n: int, seed: int) -> list[tuple[Path, ShapeSpec]]:
    """Save ``make_dataset(n, seed)`` as JPEGs named like ``red_circle_0007.jpg``.

    The file name carries the label so a person browsing the demo folder can judge results.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (image, spec) in enumerate(make_dataset(n, seed)):
        path = directory / f"{spec.slug}_{i:04d}.jpg"
        image.save(path, format="JPEG", quality=90)
        written.append((path, spec))
    return written
