"""Joining a text search's two rankings: reciprocal-rank fusion and Rocchio query expansion.

The searcher (:mod:`indexer.search.searcher`) ranks a text query twice, against the pictures'
own vectors and against their captions and tags, and decides which caption or tag matches
(by words, or by vectors at least ``text_match_min`` alike, calibrated per model). This module
holds the two pure steps that join the rankings; it knows neither the store nor the model.

- :func:`expand_query`: the pictures whose caption or tag matched become examples for the
  picture ranking (Rocchio query expansion: the query vector plus the mean of theirs), so
  pictures that *look like* the tagged one follow it, even when the base model does not know
  the word.
- :func:`composed_query`: a picture and words as one query vector ("like this one, but at
  sunset"): the normalised picture vector plus a weighted normalised text vector, normalised
  (the simple sum baseline of composed image retrieval, which the tiny model's shapes measure
  in docs/BENCHMARKS.md).
- :func:`reciprocal_rank_fusion` (Cormack et al., 2009): a picture scores ``1 / (k + rank)`` in
  each ranking it appears in, ``k`` being ``search.rank_fusion_k`` (60 by default, as in the
  paper). Ranks, not raw scores, are fused because text-text and text-image cosines live on
  different scales.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: int) -> list[int]:
    """Ids ordered by their summed ``1 / (k + rank)`` over the rankings (rank counts from 1)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=lambda item: -scores[item])


def expand_query(query: np.ndarray, examples: np.ndarray) -> np.ndarray:
    """The normalised sum of the query and the mean of example vectors (Rocchio, β = 1)."""
    if examples.size == 0:
        return query
    expanded = query + examples.mean(axis=0, keepdims=True)
    return (expanded / np.linalg.norm(expanded, axis=1, keepdims=True)).astype(np.float32)


def composed_query(picture: np.ndarray, words: np.ndarray, weight: float) -> np.ndarray:
    """``picture / |picture| + weight · words / |words|``, normalised (rows of one vector)."""
    picture = picture / np.linalg.norm(picture, axis=1, keepdims=True)
    words = words / np.linalg.norm(words, axis=1, keepdims=True)
    composed = picture + weight * words
    return (composed / np.linalg.norm(composed, axis=1, keepdims=True)).astype(np.float32)
