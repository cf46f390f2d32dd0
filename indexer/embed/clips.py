"""Decoding untrusted clips (MP4, WebM, MOV, animated GIF) into a few frames spread over them.

A clip is indexed by what it shows over its length, not by its first frame, which is often
black, a title or a fade-in. Its frames are decoded in order with PyAV (FFmpeg) and a bounded
set of candidates is kept: every ``stride`` seconds, the stride doubling whenever the set is
full, so a clip of any length (or of no stated length: GIFs, streams) ends with candidates
spread evenly over what was read, and memory never holds more than ``2 × frames`` small images.

Everything about a clip is bounded before it can cost much: the stream's dimensions are checked
before any frame is decoded, only the first ``seconds`` of it are read, decoding stops at a
wall-clock deadline and after a number of frames, and every kept frame is scaled down at once.
Anything else (a zip named ``.mp4``, a stream without pictures, a truncated file) becomes a
:class:`BadImageError` that says why, for this clip alone.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass

import av
from PIL import Image

from indexer.embed.decode import to_rgb
from indexer.errors import BadImageError

#: Frames decoded per clip at most, whatever its frame rate says (60 fps × 10 minutes).
MAX_DECODED_FRAMES = 36_000
#: The first candidate frames are this many seconds apart; the gap doubles as the set fills.
_FIRST_STRIDE_SECONDS = 0.25


@dataclass(frozen=True)
class ClipLimits:
    """What one clip may cost: frames kept, pixels per frame, seconds read, seconds spent."""

    frames: int
    max_pixels: int
    seconds: float
    decode_seconds: float
    #: Kept frames are scaled so that their short side is at most this (the model's input).
    short_side: int


@dataclass(frozen=True)
class ClipFrames:
    """Frames of a clip, in order, each with the moment (seconds from the start) it shows."""

    images: list[Image.Image]
    seconds: list[float]
    width: int
    height: int


def decode_clip(data: bytes, limits: ClipLimits) -> ClipFrames:
    """Up to ``limits.frames`` RGB frames spread over the clip, or :class:`BadImageError`."""
    started = time.monotonic()
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise BadImageError("the file holds no pictures (no video stream)")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            _check_size(width, height, limits.max_pixels)
            # The header's size is the container's word; the decoder allocates what each frame
            # says (a 16000×16000 VP8 key frame in a 96×96 WebM: ~1 GB). FFmpeg refuses those.
            stream.codec_context.options = {"max_pixels": str(limits.max_pixels)}
            stream.thread_type = "AUTO"
            candidates = _candidates(_frames(container, stream, limits, started), limits)
    except BadImageError:
        raise
    except av.error.InvalidDataError:
        raise BadImageError(
            "the file is not a picture or a clip in a format the indexer reads "
            "(JPEG, PNG, WebP, GIF, MP4, WebM, MOV...)"
        ) from None
    except (av.error.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise BadImageError(f"the clip is damaged or incomplete ({exc})") from None
    if not candidates:
        raise BadImageError("the clip has no frame that could be decoded")
    chosen = _spread(candidates, limits.frames)
    return ClipFrames(
        [image for _, image in chosen], [moment for moment, _ in chosen], width, height
    )


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise BadImageError("the clip has no pixels (its size is unknown)")
    if width * height > max_pixels:
        raise BadImageError(
            f"the clip is too large ({width}×{height} pixels, at most {max_pixels:,} pixels)"
        )


def _frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    limits: ClipLimits,
    started: float,
) -> Iterator[tuple[float, av.VideoFrame]]:
    """(moment, frame) of the stream in order, within every limit; a frame of another size
    than the header announced is checked again.

    Moments count from the first frame: a cut from a longer recording or a live stream keeps
    its timestamps (its first frame at 01:00:00), and is read from its start all the same.
    """
    rate = float(stream.average_rate or 25)
    origin: float | None = None
    for count, frame in enumerate(container.decode(stream)):
        if count >= MAX_DECODED_FRAMES or time.monotonic() - started > limits.decode_seconds:
            return
        stamp = frame.time if frame.time is not None else count / rate
        origin = stamp if origin is None else origin
        moment = stamp - origin
        if moment > limits.seconds:
            return
        _check_size(frame.width, frame.height, limits.max_pixels)
        yield max(0.0, moment), frame


def _candidates(
    frames: Iterator[tuple[float, av.VideoFrame]], limits: ClipLimits
) -> list[tuple[float, Image.Image]]:
    """Frames at least ``stride`` seconds apart, at most ``2 × limits.frames`` of them."""
    kept: list[tuple[float, Image.Image]] = []
    stride = _FIRST_STRIDE_SECONDS
    next_moment = 0.0
    for moment, frame in frames:
        if moment < next_moment:
            continue
        kept.append((moment, _small_rgb(frame, limits.short_side)))
        if len(kept) > 2 * limits.frames:
            kept = kept[::2]
            stride *= 2
        next_moment = kept[-1][0] + stride
    return kept


def _small_rgb(frame: av.VideoFrame, short_side: int) -> Image.Image:
    """The frame as RGB, scaled down so that its short side is at most ``short_side``."""
    scale = min(1.0, short_side / min(frame.width, frame.height))
    width, height = max(1, round(frame.width * scale)), max(1, round(frame.height * scale))
    return to_rgb(frame.to_image(width=width, height=height))


def _spread(
    candidates: list[tuple[float, Image.Image]], count: int
) -> list[tuple[float, Image.Image]]:
    """``count`` of the candidates, evenly spread from the first to the last."""
    if len(candidates) <= count:
        return candidates
    last = len(candidates) - 1
    picks = sorted({round(i * last / (count - 1)) for i in range(count)}) if count > 1 else [0]
    return [candidates[i] for i in picks]
