"""Telling a user when the offline demo model is asked about things it cannot know.

The tiny model (:mod:`indexer.training.tiny_model`) was trained on 30 kinds of coloured shapes and
nothing else: a photo of a cat is indexed, but no query will find it by meaning. A command
that indexes or searches something other than the demo's shapes says so once, in one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from indexer.config import IndexerConfig
from indexer.synthetic import ALL_SPECS, COLOURS, SHAPES
from indexer.training.tiny_model import TINY_MODEL_NAME

NOTICE = (
    f"note: the demo model ({TINY_MODEL_NAME}) knows only coloured shapes (e.g. 'a red "
    "circle', '蓝色的正方形'); other pictures and words get meaningless matches. README, "
    "'Choosing the model', says how to use a real one."
)
_SHAPE_WORDS = tuple(
    word.casefold()
    for word in (
        *(c.en for c in COLOURS),
        *(c.zh for c in COLOURS),
        *(s.en for s in SHAPES),
        *(s.zh for s in SHAPES),
    )
)
_SLUGS = tuple(spec.slug for spec in ALL_SPECS)


def uses_demo_model(config: IndexerConfig) -> bool:
    """Whether the configured model is the tiny shapes-only one."""
    return config.model.arch == TINY_MODEL_NAME


def is_about_shapes(text: str) -> bool:
    """Whether a query names one of the demo's colours or shapes (English or Chinese)."""
    folded = text.casefold()
    return any(word in folded for word in _SHAPE_WORDS)


def are_demo_drawings(paths: Iterable[Path]) -> bool:
    """Whether every file is named like one the demo draws (``red_circle_012.jpg``)."""
    return all(path.name.startswith(_SLUGS) for path in paths)
