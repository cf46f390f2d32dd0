"""Does ONNX Runtime beat torch bf16 on the default model's image tower (ViT-B/32) here?

Not a dependency: ``.venv/bin/pip install onnxruntime onnx``, then from the repository root::

    .venv/bin/python -m benchmarks.onnx_image_tower

Exports the image tower (random weights; speed does not depend on them) to ONNX, also
quantises it to int8 (ONNX Runtime's dynamic quantisation), and times 32 preprocessed photos
per call through torch fp32, torch bf16, ONNX Runtime fp32 and int8, interleaved in one run,
with each one's lowest cosine to torch fp32. ``model.runtime`` would be offered only for a
runtime at least 1.3× faster than torch bf16 at cosine ≥ 0.99 (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import open_clip
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic

from benchmarks.embed import MAX_BYTES, MAX_PIXELS, photo_jpegs
from indexer.embed.decode import decode_scaled

PICTURES = 32
REPEATS = 3


def main() -> None:
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    model.eval()
    images = [
        decode_scaled(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS, min_side=224)[0]
        for data in photo_jpegs(PICTURES)
    ]
    pixels = torch.stack([preprocess(image) for image in images])
    bf16 = open_clip.create_model("ViT-B-32", pretrained=None)
    bf16.load_state_dict(model.state_dict())
    bf16.eval().to(torch.bfloat16)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as work:
        fp32_file, int8_file = Path(work) / "visual.onnx", Path(work) / "visual.int8.onnx"
        torch.onnx.export(
            model.visual,
            (pixels[:1],),
            str(fp32_file),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
            dynamo=False,
        )
        quantize_dynamic(str(fp32_file), str(int8_file), weight_type=QuantType.QInt8)
        sessions = {
            name: onnxruntime.InferenceSession(str(file), options)
            for name, file in (("ORT fp32", fp32_file), ("ORT int8", int8_file))
        }
    arrays = pixels.numpy()
    runs: dict[str, Callable[[], np.ndarray]] = {
        "torch fp32": lambda: model.encode_image(pixels).numpy(),
        "torch bf16": lambda: bf16.encode_image(pixels.to(torch.bfloat16)).float().numpy(),
        **{
            name: (lambda s=session: s.run(None, {"x": arrays})[0])
            for name, session in sessions.items()
        },
    }
    with torch.inference_mode():
        reference = _normalised(runs["torch fp32"]())
        cosines = {
            name: float((_normalised(run()) * reference).sum(1).min()) for name, run in runs.items()
        }
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(REPEATS):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - start)
    bf16_rate = PICTURES / statistics.median(seconds["torch bf16"])
    for name in runs:
        rate = PICTURES / statistics.median(seconds[name])
        print(
            f"{name}: {rate:.1f} img/s ({rate / bf16_rate:.2f}× torch bf16), "
            f"lowest cosine to torch fp32 {cosines[name]:.4f}"
        )


def _normalised(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


if __name__ == "__main__":
    main()
