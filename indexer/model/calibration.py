"""Per-model similarity thresholds, calibrated without labels from the model's own null pairs.

Cosine scales differ widely between models (CLIP-style positives around 0.2–0.4, SigLIP-style
around 0.06–0.1, a random-weight model anywhere), so a fixed ``search.text_match_min`` made on
one model is wrong on another. Each model instead measures what *unrelated* looks like to it:
it embeds a shipped set of unrelated everyday phrases in English and Chinese
(``assets/calibration_phrases.txt``) and a few synthetic pictures of coloured shapes, about
which no phrase speaks, and puts each threshold at a high percentile of the unrelated pairs'
cosines plus a margin:

- text ↔ text (caption or tag matching a query by meaning, ``search.text_match_min``):
  the :data:`PERCENTILE` of all phrase pairs + :data:`TEXT_MARGIN`;
- text ↔ picture (a floor below which a description does not describe the picture, used
  when ``search.picture_match_min = "calibrated"``): the :data:`PERCENTILE` of all phrase ×
  picture pairs + :data:`PICTURE_MARGIN`.

So at most 1 % of unrelated pairs pass before the margin; the margin keeps pairs that are
merely "a little alike" out too. Explicit configuration values still win over these.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from indexer import synthetic
from indexer.records import PERCENTILE, PICTURE_MARGIN, TEXT_MARGIN, Calibration

PHRASES_FILE = Path(__file__).resolve().parent.parent / "assets" / "calibration_phrases.txt"
#: Synthetic pictures drawn for the text ↔ picture pairs (a fixed seed: the same every time).
PICTURES = 12
PICTURE_SEED = 90_210


class TextAndPictureEncoder(Protocol):
    """What calibration needs of an embedder: normalised vectors for texts and pictures."""

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...

    def encode_images(self, images: list[Image.Image]) -> np.ndarray: ...


def phrases() -> list[str]:
    """The shipped unrelated phrases (comment lines and blank lines left out)."""
    lines = PHRASES_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def method_id() -> str:
    """Changes whenever the phrases, the pictures or the rule change."""
    digest = hashlib.sha256(PHRASES_FILE.read_bytes())
    digest.update(f"{PERCENTILE}/{TEXT_MARGIN}/{PICTURE_MARGIN}/{PICTURES}/{PICTURE_SEED}".encode())
    return digest.hexdigest()[:16]


def calibration_pictures() -> list[Image.Image]:
    """The synthetic pictures of the text ↔ picture pairs."""
    return [image for image, _ in synthetic.make_dataset(PICTURES, PICTURE_SEED)]


def calibrate(encoder: TextAndPictureEncoder) -> Calibration:
    """Measures ``encoder``'s thresholds (a few hundred texts and a dozen pictures to embed)."""
    texts = phrases()
    text_vectors = encoder.encode_texts(texts)
    picture_vectors = encoder.encode_images(calibration_pictures())
    upper = np.triu_indices(len(texts), k=1)
    text_pairs = (text_vectors @ text_vectors.T)[upper]
    picture_pairs = (text_vectors @ picture_vectors.T).ravel()
    return Calibration(
        text_text=_threshold(text_pairs, TEXT_MARGIN),
        text_picture=_threshold(picture_pairs, PICTURE_MARGIN),
        method=method_id(),
        phrases=len(texts),
        pictures=len(picture_vectors),
    )


def _threshold(unrelated: np.ndarray, margin: float) -> float:
    """The percentile of the unrelated cosines plus ``margin``, at most 1 (identical vectors)."""
    return round(min(1.0, float(np.percentile(unrelated, PERCENTILE)) + margin), 4)
