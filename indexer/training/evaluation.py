"""Retrieval recall of a model on (picture, caption) pairs, so models can be compared fairly.

``python -m indexer eval --pairs FILE`` and fine-tuning's model card both measure with
:func:`evaluate_retrieval`, so ``eval`` on a card's held-out pairs gives the card's numbers.

Pairs may share pictures and captions (a photo with two captions; "a red circle" under eight
pictures). Each distinct caption is one text→image query and each distinct picture one
image→text query; an answer counts if any pair joins it to the query. A query's rank is the
position of its first correct answer, with ties counted against it, so recall@k is the share of
queries with a correct answer among the first k, and the mean rank is 1 when every query's
first answer is right.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from indexer.config import IndexerConfig
from indexer.model.embedder import Embedder, model_input_side
from indexer.model.identity import model_identity
from indexer.model.loading import load_open_clip
from indexer.training.pairs import LoadedPair, decode_pairs, read_pairs_file

#: The cut-offs reported as recall@k.
RECALL_AT = (1, 5, 10)


class Encoder(Protocol):
    """What evaluation needs of a model: an :class:`Embedder` or anything that encodes alike."""

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class DirectionMetrics:
    """Recall@k (k in :data:`RECALL_AT`) and mean rank of one search direction."""

    recall: dict[int, float]
    mean_rank: float
    queries: int
    candidates: int

    def as_dict(self) -> dict[str, float | int]:
        """JSON-ready, rounded to 4 decimals: the form the model card stores and compares."""
        return {
            **{f"R@{k}": round(value, 4) for k, value in self.recall.items()},
            "mean_rank": round(self.mean_rank, 4),
            "queries": self.queries,
            "candidates": self.candidates,
        }


@dataclass(frozen=True)
class RetrievalReport:
    """Text→image and image→text retrieval on one set of pairs."""

    pairs: int
    text_to_image: DirectionMetrics
    image_to_text: DirectionMetrics

    @property
    def mean_recall(self) -> float:
        """Mean of every recall@k of both directions: one number that rises with any of them."""
        values = [*self.text_to_image.recall.values(), *self.image_to_text.recall.values()]
        return sum(values) / len(values)

    def as_dict(self) -> dict[str, object]:
        return {
            "pairs": self.pairs,
            "text_to_image": self.text_to_image.as_dict(),
            "image_to_text": self.image_to_text.as_dict(),
        }


def evaluate_retrieval(encoder: Encoder, pairs: Sequence[LoadedPair]) -> RetrievalReport:
    """Recall@1/5/10 and mean rank of ``encoder``'s normalised vectors on ``pairs``, both ways."""
    if not pairs:
        raise ValueError("no pairs to evaluate on")
    pictures = list(dict.fromkeys(pair.picture for pair in pairs))
    captions = list(dict.fromkeys(pair.caption for pair in pairs))
    first_image = {}
    for pair in pairs:
        first_image.setdefault(pair.picture, pair.image)
    relevant = np.zeros((len(captions), len(pictures)), dtype=bool)
    caption_row = {caption: row for row, caption in enumerate(captions)}
    picture_column = {picture: column for column, picture in enumerate(pictures)}
    for pair in pairs:
        relevant[caption_row[pair.caption], picture_column[pair.picture]] = True

    image_vectors = encoder.encode_images([first_image[picture] for picture in pictures])
    text_vectors = encoder.encode_texts(captions)
    scores = text_vectors @ image_vectors.T
    return RetrievalReport(
        pairs=len(pairs),
        text_to_image=_direction(scores, relevant),
        image_to_text=_direction(scores.T, relevant.T),
    )


def _direction(scores: np.ndarray, relevant: np.ndarray) -> DirectionMetrics:
    """Metrics of queries (rows) over candidates (columns), given which candidates are right."""
    best = np.where(relevant, scores, -np.inf).max(axis=1)
    ranks = 1 + ((scores >= best[:, None]) & ~relevant).sum(axis=1)
    return DirectionMetrics(
        recall={k: float((ranks <= k).mean()) for k in RECALL_AT},
        mean_rank=float(ranks.mean()),
        queries=scores.shape[0],
        candidates=scores.shape[1],
    )


#: What the last column means: a set of 40 pairs with 23 distinct captions asks 23 queries
#: text→image, each ranking the 40 pictures (distinct captions and pictures count once).
TABLE_NOTE = (
    "asked/among: distinct queries (captions, or pictures for image→text) / the candidates "
    "each was ranked among; R@k: share of queries with a right answer in the first k"
)


def format_reports(reports: Sequence[tuple[str, RetrievalReport]]) -> str:
    """A terminal table with one row per (label, direction)."""
    header = ["", *(f"R@{k}" for k in RECALL_AT), "mean rank", "asked/among"]
    rows = [header]
    for label, report in reports:
        for direction, metrics in (
            ("text→image", report.text_to_image),
            ("image→text", report.image_to_text),
        ):
            rows.append(
                [
                    f"{label} {direction}".strip(),
                    *(f"{metrics.recall[k]:.3f}" for k in RECALL_AT),
                    f"{metrics.mean_rank:.2f}",
                    f"{metrics.queries}/{metrics.candidates}",
                ]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    table = "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )
    return table + "\n" + TABLE_NOTE


@dataclass(frozen=True)
class EvalOptions:
    """What ``python -m indexer eval`` measures, and how it prints the result."""

    pairs: Path
    as_json: bool = False


def evaluate_command(config: IndexerConfig, options: EvalOptions) -> None:
    """``python -m indexer eval``: measure the configured model on ``options.pairs``."""
    loaded = load_open_clip(config.model)
    embedder = Embedder(loaded, model_identity(config.model), config.model)
    source = read_pairs_file(options.pairs)
    pairs = decode_pairs(source, config.limits, model_input_side(loaded.model))
    report = evaluate_retrieval(embedder, pairs)
    if options.as_json:
        result = {"model": embedder.identity, "pairs_file": str(options.pairs), **report.as_dict()}
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(f"model {embedder.identity} on {options.pairs} ({report.pairs} pairs)")
        print(format_reports([("", report)]))
