"""A picture and words as one query ("like this one, but a square"), measured where the answer
is known: the tiny model's shapes.

Run from the repository root::

    .venv/bin/python -m benchmarks.composed

The searched pictures are the tests' 240 held-out shapes (8 of each colour × shape); each of
60 other pictures (seed 777) is asked for each of the 4 other shapes ("this red circle, but a
square": the answer is the red squares), 240 queries. For the picture alone, the words alone
(the shape's name) and the composed vector at several ``search.composed_text_weight`` values
(:func:`~indexer.search.fusion.composed_query`), it reports recall@5 (queries with at least one
right picture in the top 5) and precision@5 (right pictures among the top 5), then the case the
issue names, a red circle with "square", on its own: precision@5 and the mean rank of the red
squares, red circles, blue squares and green squares among the 240.
"""

from __future__ import annotations

import numpy as np

from indexer.config import ModelConfig
from indexer.model.embedder import Embedder
from indexer.search.fusion import composed_query
from indexer.synthetic import SHAPES, ShapeSpec, make_dataset
from indexer.training.tiny_model import TINY_MODEL_NAME, ensure_tiny_model
from tests.conftest import CACHE_DIR

WEIGHTS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
#: The tests' held-out pictures (tests/conftest.py), and other pictures to ask with.
HELD_OUT_SEED = 424_242
QUERY_SEED = 777


def top5(searched: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.argsort(-(searched @ query[0]))[:5]


def main() -> None:
    embedder = Embedder.load(
        ModelConfig(arch=TINY_MODEL_NAME, pretrained=None, checkpoint=ensure_tiny_model(CACHE_DIR))
    )
    searched_pictures = make_dataset(240, HELD_OUT_SEED)
    searched = embedder.encode_images([image for image, _ in searched_pictures])
    labels = [spec for _, spec in searched_pictures]
    asked = make_dataset(60, QUERY_SEED)
    pictures = embedder.encode_images([image for image, _ in asked])
    words = {shape: embedder.encode_texts([shape.en]) for shape in SHAPES}
    ways = {
        "picture alone": lambda picture, shape: picture[None, :],
        "words alone": lambda picture, shape: words[shape],
        **{
            f"picture + {weight:g} × words": (
                lambda picture, shape, weight=weight: composed_query(
                    picture[None, :], words[shape], weight
                )
            )
            for weight in WEIGHTS
        },
    }
    print("| query | recall@5 | precision@5 |")
    print("|---|---:|---:|")
    for name, way in ways.items():
        found = []
        for picture, (_, spec) in zip(pictures, asked, strict=True):
            for shape in SHAPES:
                if shape != spec.shape:
                    wanted = ShapeSpec(spec.colour, shape)
                    top = top5(searched, way(picture, shape))
                    found.append(sum(labels[i] == wanted for i in top))
        recall = np.mean([count > 0 for count in found])
        print(f"| {name} | {recall:.3f} | {np.mean(found) / 5:.3f} |")
    print()
    print("A red circle (each of the 8 searched ones, itself left out) with the word “square”:")
    print()
    print(
        "| weight | precision@5 | mean rank: red squares | red circles | blue squares "
        "| green squares |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    circles = [i for i, spec in enumerate(labels) if spec.slug == "red_circle"]
    square = next(shape for shape in SHAPES if shape.en == "square")
    for weight in WEIGHTS:
        precision, ranks = (
            [],
            {"red_square": [], "red_circle": [], "blue_square": [], "green_square": []},
        )
        for i in circles:
            query = composed_query(searched[i][None, :], words[square], weight)
            order = [j for j in np.argsort(-(searched @ query[0])) if j != i]
            precision.append(sum(labels[j].slug == "red_square" for j in order[:5]) / 5)
            for rank, j in enumerate(order, start=1):
                if labels[j].slug in ranks:
                    ranks[labels[j].slug].append(rank)
        means = " | ".join(f"{np.mean(r):.1f}" for r in ranks.values())
        print(f"| {weight:g} | {np.mean(precision):.2f} | {means} |")


if __name__ == "__main__":
    main()
