"""The recogniser's own process: reads one picture at a time from stdin, answers on stdout.

Run as ``python -m indexer.ocr.child SETTINGS_JSON`` by :mod:`indexer.ocr.recogniser`. Each
request is a 4-byte big-endian length and the picture's bytes; each answer a 4-byte length and
a JSON object: ``{"words": str, "confidence": float}`` or ``{"error": str, "permanent": bool}``.
The first answer says whether the recogniser could be loaded (``{"ready": true}`` or
``{"unavailable": reason}``). The process runs at a lower priority with one thread, so reading
never takes the CPU from embedding or answering a query.

Work per picture is bounded: the bytes are decoded with the indexer's guards (size, pixel
count from the header, long thin strips cut to their middle), scaled down to ``max_side``,
and first looked at cheaply (text detection on a copy of :data:`LOOK_SIDE` pixels): a picture
with no text costs that look only (~20 ms on one core), the recognition runs on the others.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import sys
from typing import Any, BinaryIO

import numpy as np

#: The longest side of the copy the cheap first look (text detection only) runs on.
LOOK_SIDE = 320
#: The longest side text detection works at when reading (the picture is not scaled up).
DETECTION_SIDE = 960
#: prctl's option that names the signal a process gets when its parent ends (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


def main() -> None:
    settings = json.loads(sys.argv[1])
    _end_with_parent(int(settings["parent"]))
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the answers
    if hasattr(os, "nice"):
        os.nice(10)
    try:
        from rapidocr_onnxruntime import RapidOCR

        engine = RapidOCR(
            intra_op_num_threads=1,
            inter_op_num_threads=1,
            det_limit_type="max",
            det_limit_side_len=DETECTION_SIDE,
        )
    except Exception as exc:  # ImportError, or OSError for a missing libGL
        _answer(answers, {"unavailable": f"{type(exc).__name__}: {exc}"})
        return
    _answer(answers, {"ready": True})
    requests = sys.stdin.buffer
    while True:
        header = requests.read(4)
        if len(header) < 4:
            return
        (size,) = struct.unpack(">I", header)
        _answer(answers, _read(engine, requests.read(size), settings))


def _end_with_parent(parent: int) -> None:
    """Has Linux kill this process when its parent ends. A child paused by SIGSTOP (pictures
    waiting to be embedded) never reads the end of its input, so a parent killed meanwhile (kill
    -9, the OOM killer) would otherwise leave it stopped for ever, holding ~130 MB."""
    if sys.platform != "linux":
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the signal was asked for
        os._exit(0)


def _read(engine: Any, data: bytes, settings: dict[str, Any]) -> dict[str, Any]:
    from indexer.embed.decode import decode_image
    from indexer.errors import BadImageError

    try:
        image = decode_image(
            data, max_bytes=settings["max_bytes"], max_pixels=settings["max_pixels"]
        )
    except BadImageError as exc:
        return {"error": str(exc), "permanent": True}
    try:
        image.thumbnail((settings["max_side"], settings["max_side"]))
        look = image.copy()
        look.thumbnail((LOOK_SIDE, LOOK_SIDE))
        boxes, _ = engine.text_det(_bgr(look))
        if boxes is None or len(boxes) == 0:
            return {"words": "", "confidence": 0.0}
        lines, _ = engine(_bgr(image))
    except Exception as exc:
        return {"error": f"the recogniser failed: {type(exc).__name__}: {exc}", "permanent": False}
    kept = [
        (" ".join(str(text).split()), float(score))
        for _, text, score in lines or []
        if float(score) >= settings["min_confidence"] and str(text).strip()
    ]
    if not kept:
        return {"words": "", "confidence": 0.0}
    return {
        "words": "\n".join(text for text, _ in kept),
        "confidence": sum(score for _, score in kept) / len(kept),
    }


def _bgr(image: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def _answer(answers: BinaryIO, message: dict[str, Any]) -> None:
    body = json.dumps(message, ensure_ascii=False).encode()
    answers.write(struct.pack(">I", len(body)) + body)
    answers.flush()


if __name__ == "__main__":
    main()
