"""The shapes world's "local names": invented words a group uses for one kind of picture.

Like "人民广场" for a base CLIP, these words never occur in the tiny model's training captions,
so only fine-tuning can teach them. Each name is given in English and in Chinese and means
exactly one colour × shape.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from indexer.model.embedder import Embedder
from indexer.synthetic import ALL_SPECS, COLOURS, SHAPES, ShapeSpec, draw_shape


@dataclass(frozen=True)
class LocalName:
    """An invented name in two languages and the one kind of picture it stands for."""

    en: str
    zh: str
    spec: ShapeSpec


ZORBLAT_PLAZA = LocalName("Zorblat Plaza", "佐布拉特广场", ShapeSpec(COLOURS[4], SHAPES[3]))
MISTER_FLUFFNIK = LocalName("Mister Fluffnik", "弗拉夫尼克先生", ShapeSpec(COLOURS[1], SHAPES[2]))
LOCAL_NAMES = (ZORBLAT_PLAZA, MISTER_FLUFFNIK)


def group_pairs(per_name: int, everyday: int, seed: int) -> list[tuple[Image.Image, str]]:
    """A group's captioned pictures: the local names on their kind, and everyday captions.

    Each name gets ``per_name`` pictures of its kind, captioned with the English and Chinese
    name in turn; ``everyday`` pictures of the other kinds carry one of their usual captions.
    """
    rng = random.Random(seed)
    pairs = []
    for name in LOCAL_NAMES:
        for number in range(per_name):
            pairs.append((draw_shape(name.spec, rng), name.en if number % 2 == 0 else name.zh))
    named = {name.spec for name in LOCAL_NAMES}
    others = [spec for spec in ALL_SPECS if spec not in named]
    for number in range(everyday):
        spec = others[number % len(others)]
        pairs.append((draw_shape(spec, rng), rng.choice(spec.captions)))
    rng.shuffle(pairs)
    return pairs


def write_pairs_file(
    path: Path, pairs: list[tuple[Image.Image, str]], pictures: str = "pictures"
) -> Path:
    """Saves the pictures as JPEGs under ``pictures/`` beside ``path`` and writes the file.

    The format follows the suffix (.csv or .jsonl); image paths are relative to the file.
    """
    folder = path.parent / pictures
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for number, (image, caption) in enumerate(pairs):
        name = f"{pictures}/{number:04d}.jpg"
        image.save(path.parent / name, format="JPEG", quality=90)
        rows.append({"image": name, "caption": caption})
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["image", "caption"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def name_precision(embedder: Embedder, gallery: list[tuple[bytes, ShapeSpec]]) -> dict[str, float]:
    """For each name in each language, the share of its five best gallery pictures of its kind.

    This is the issue's "recall@5" as a person sees it: of the five pictures a search for the
    name shows first, how many are the kind the name stands for. With 8 of 240 pictures of each
    kind, a model that does not know the name scores about 0.03.
    """
    images = [Image.open(io.BytesIO(data)).convert("RGB") for data, _ in gallery]
    image_vectors = embedder.encode_images(images)
    scores: dict[str, float] = {}
    for name in LOCAL_NAMES:
        for query in (name.en, name.zh):
            similarity = embedder.encode_texts([query])[0] @ image_vectors.T
            top = np.argsort(-similarity)[:5]
            scores[query] = sum(gallery[i][1] == name.spec for i in top) / 5
    return scores
