"""Combining what a picture shows with what people wrote about it, for text searches.

A text query is matched two ways: against the pictures' own vectors, and against their
captions and tags. A caption or tag matches when one of the two texts contains the other (any
case: "人民广场" finds a picture tagged "人民广场夜景"), or when their vectors are very close
(cosine ≥ ``search.text_match_min``, e.g. a translation). The vector test is strict because CLIP
rates any two short texts as fairly similar, by an amount that depends on the model: the
default 0.92 is a conservative guess for full-size models (not measured here: no weights could
be downloaded); the tiny test model maps every text near one of its 30 concepts, so it needs
the vector test off (a value above 1).

The two rankings are fused by reciprocal-rank fusion (Cormack et al., 2009): a picture scores
``1 / (k + rank)`` in each list it appears in, with ``k = 60`` as in the paper. Ranks, not raw
scores, are fused because text-text and text-image cosines live on different scales. When a
caption or tag matches, its pictures also become examples for the picture ranking (Rocchio
query expansion: the query vector plus the mean of their vectors), so pictures that *look like*
the tagged one follow it, even when the base model does not know the word.
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
