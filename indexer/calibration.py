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
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from indexer import synthetic

PHRASES_FILE = Path(__file__).parent / "assets" / "calibration_phrases.txt"
#: The share of unrelated pairs (in percent) that score at most the threshold before the margin.
PERCENTILE = 99.0
#: Added to the text ↔ text percentile: a meaning match must be clearly above unrelated texts.
TEXT_MARGIN = 0.02
#: Added to the text ↔ picture percentile.
PICTURE_MARGIN = 0.02
#: Synthetic pictures drawn for the text ↔ picture pairs (a fixed seed: the same every time).
PICTURES = 12
PICTURE_SEED = 90_210


class TextAndPictureEncoder(Protocol):
    """What calibration needs of an embedder: normalised vectors for texts and pictures."""

    def encode_texts(self, texts: list[str]) -> np.ndarray: ...

    def encode_images(self, images: list[Image.Image]) -> np.ndarray: ...


@dataclass(frozen=True)
class Calibration:
    """A model's calibrated thresholds and how they were measured."""

    text_text: float
    text_picture: float
    #: Identifies the phrases, pictures and rule; a stored calibration with another is redone.
    method: str
    phrases: int
    pictures: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        return cls(**json.loads(text))

    def describe(self) -> str:
        """One line for ``stats`` and ``model check``."""
        return (
            f"text↔text ≥ {self.text_text:.3f}, text↔picture ≥ {self.text_picture:.3f} "
            f"(p{PERCENTILE:g} of unrelated pairs of {self.phrases} phrases and "
            f"{self.pictures} pictures, + {TEXT_MARGIN:g} / {PICTURE_MARGIN:g})"
        )


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


#: ``search.picture_match_min`` set to this uses the calibrated text ↔ picture floor.
CALIBRATED = "calibrated"


@dataclass(frozen=True)
class Thresholds:
    """The thresholds in force: the configured value where one is set, else the calibrated one.

    ``text_match_min``: a caption or tag matches a query by meaning at this cosine or above.
    ``picture_match_min``: a picture found by its own vector answers a description only at
    this cosine or above (None: every picture may, the default). The text ↔ picture floor is
    applied only when asked for (``search.picture_match_min``, a number or ``"calibrated"``):
    it is calibrated on synthetic pictures, and whether their unrelated pairs look like a
    real group's photos to a real model is unmeasured here (no real weights can be had).
    """

    text_match_min: float
    text_match_configured: bool
    picture_match_min: float | None
    picture_match_configured: str | float | None
    calibration: Calibration

    @classmethod
    def choose(
        cls,
        calibration: Calibration,
        *,
        text_match_min: float | None = None,
        picture_match_min: float | str | None = None,
    ) -> Thresholds:
        """The configured values (None where unset) over the calibrated ones."""
        return cls(
            calibration.text_text if text_match_min is None else text_match_min,
            text_match_min is not None,
            calibration.text_picture if picture_match_min == CALIBRATED else picture_match_min,
            picture_match_min,
            calibration,
        )

    def describe(self) -> str:
        """One line for ``stats``: what is in force and where it comes from."""
        text_source = "search.text_match_min" if self.text_match_configured else "calibrated"
        if self.picture_match_min is None:
            picture = "no picture match floor (search.picture_match_min)"
        else:
            source = "calibrated" if self.picture_match_configured == CALIBRATED else "configured"
            picture = f"picture match ≥ {self.picture_match_min:.3f} ({source})"
        return (
            f"text match ≥ {self.text_match_min:.3f} ({text_source}), {picture}; "
            f"calibrated: {self.calibration.describe()}"
        )
