"""Short clips of the shapes world whose subject appears only after a dark lead-in.

A clip found by a description of what it shows late, not by its first frame, is what the clip
tests and the playground's demo group need: a dark first second (as many real clips open with a
fade-in or a title), then one shape of :mod:`indexer.synthetic` held still.
"""

from __future__ import annotations

import io
import random
from fractions import Fraction
from typing import Literal

import av
from PIL import Image

from indexer.synthetic import ShapeSpec, draw_shape

ClipFormat = Literal["mp4", "webm", "gif"]
#: The encoder of each video format (H.264 in MP4, VP8 in WebM); GIFs are written by Pillow.
_CODECS: dict[ClipFormat, str] = {"mp4": "libx264", "webm": "libvpx"}


def make_clip(
    spec: ShapeSpec,
    clip_format: ClipFormat = "mp4",
    *,
    seconds: float = 3.0,
    dark_seconds: float = 1.0,
    fps: int = 6,
    size: int = 96,
    seed: int = 0,
) -> bytes:
    """A clip of ``seconds``: black for ``dark_seconds``, then ``spec`` drawn once and held."""
    shape = draw_shape(spec, random.Random(seed), size)
    black = Image.new("RGB", (size, size), (0, 0, 0))
    pictures = [
        black if index < dark_seconds * fps else shape for index in range(round(seconds * fps))
    ]
    output = io.BytesIO()
    if clip_format == "gif":
        pictures[0].save(
            output, "GIF", save_all=True, append_images=pictures[1:], duration=1000 // fps, loop=0
        )
        return output.getvalue()
    with av.open(output, mode="w", format=clip_format) as container:
        stream = container.add_stream(_CODECS[clip_format], rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_image(picture)
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return output.getvalue()
