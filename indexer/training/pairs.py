"""(picture, caption) pairs for fine-tuning and evaluation: reading, checking, decoding, splitting.

Pairs come from a :class:`PairSource`: a CSV or JSONL pairs file (:func:`read_pairs_file`), or
the captioned and tagged pictures of a collection indexed from files
(:func:`read_collection_pairs`, one pair per caption or tag). Every source goes through
:func:`decode_pairs`, which checks each pair, reads its picture file as the indexer reads one
(regular files only, at most ``limits.max_image_bytes``; a symlink is followed first) and
decodes it the way the indexer does, shrunk to the model's input size, so a model is trained
and measured on the pictures it will later see. A source with any bad pair is refused as a
whole, with one error that lists every bad line, so a person fixes the file in one go instead
of finding one mistake per run. :func:`split_held_out` holds pictures out by picture, not by
pair, and :func:`pairs_jsonl` writes pairs as a JSONL file (the held-out pairs kept beside a
fine-tuned model, with absolute paths).
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from indexer.config import LimitsConfig
from indexer.embed.decode import decode_image
from indexer.embed.files import read_picture_file
from indexer.errors import (
    BadImageError,
    BadPairsError,
    SourceGoneError,
    UnknownCollectionError,
)
from indexer.model.folder import file_sha256
from indexer.store import Store
from indexer.text_cleaning import clean_text

#: The columns (CSV) or keys (JSONL) a pairs file must have; other columns are ignored.
IMAGE_KEY = "image"
CAPTION_KEY = "caption"
#: Bad lines listed in one error; the rest are counted, since the first ones show the pattern.
MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True)
class Pair:
    """One picture with one caption, not yet decoded.

    ``image`` is a file or the picture's bytes; ``origin`` names the pair in error messages
    (e.g. "line 7" of a file).
    """

    image: Path | bytes
    caption: str
    origin: str


@dataclass(frozen=True)
class PairSource:
    """Pairs as a source gave them, with the lines it could not read as a pair.

    ``description`` says where the pairs came from; it goes into the fine-tuned model's card.
    """

    pairs: list[Pair]
    problems: list[str]
    description: dict[str, str]


@dataclass(frozen=True)
class LoadedPair:
    """A checked pair with its picture decoded and shrunk to the model's input size.

    ``picture`` is a hash of the decoded pixels: pairs with equal ``picture`` show the same
    picture, however they were named, which is what evaluation and the held-out split go by.
    """

    image: Image.Image
    caption: str
    picture: str
    pair: Pair


def read_pairs_file(path: Path) -> PairSource:
    """The pairs of a ``.csv`` (with a header row) or ``.jsonl`` (one object a line) file.

    Image paths are relative to the file's folder (absolute ones are used as they are). Raises
    :class:`BadPairsError` when the file as a whole is unusable (unreadable, unknown format, no
    ``image``/``caption`` columns); lines that are not a pair are returned as problems.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise BadPairsError(f"{path}: unknown pairs format; name the file .csv or .jsonl")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BadPairsError(f"cannot read pairs file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BadPairsError(f"{path}: not a UTF-8 text file") from None
    rows = _csv_rows(path, text) if suffix == ".csv" else _jsonl_rows(text)
    pairs: list[Pair] = []
    problems: list[str] = []
    for line, fields in rows:
        if isinstance(fields, str):
            problems.append(f"line {line}: {fields}")
        elif not fields[0]:
            problems.append(f"line {line}: no image path")
        else:
            pairs.append(Pair(path.parent / fields[0], fields[1], f"line {line}"))
    if not pairs and not problems:
        raise BadPairsError(f"{path}: no pairs in the file")
    return PairSource(pairs, problems, {"file": str(path.resolve()), "sha256": file_sha256(path)})


async def read_collection_pairs(database: Path, collection: str) -> PairSource:
    """The captioned and tagged pictures of a collection, one pair per caption or tag.

    Only pictures indexed from files (``python -m indexer index``) are used: the indexer cannot
    download pictures that live in Telegram without the bot, so those are left out.
    """
    if not database.exists():
        raise BadPairsError(f"no index database at {database}")
    store = await Store.open(database)
    try:
        collection_id = await store.collections.id_of(collection)
        if collection_id is None:
            raise UnknownCollectionError(collection)
        texts = await store.texts.pairs(collection_id)
    finally:
        await store.close()
    pairs = [
        Pair(Path(source.removeprefix("file:")), caption, f"caption {number} ({source})")
        for number, (source, caption) in enumerate(texts, start=1)
        if source.startswith("file:")
    ]
    if not pairs:
        raise BadPairsError(
            f"collection {collection!r} has no captioned or tagged pictures indexed from files"
        )
    return PairSource(pairs, [], {"collection": collection, "database": str(database)})


Row = tuple[int, tuple[str, str] | str]
"""A line number with the line's (image, caption), or the reason it is not a pair."""


def _csv_rows(path: Path, text: str) -> list[Row]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    columns = reader.fieldnames or []
    if IMAGE_KEY not in columns or CAPTION_KEY not in columns:
        found = ", ".join(repr(c) for c in columns) or "none"
        raise BadPairsError(
            f"{path}: the first line must name the columns {IMAGE_KEY!r} and {CAPTION_KEY!r} "
            f"(found {found})"
        )
    rows: list[Row] = []
    try:
        for record in reader:
            image, caption = record.get(IMAGE_KEY), record.get(CAPTION_KEY)
            if image is None or caption is None:
                rows.append((reader.line_num, "fewer fields than columns"))
            else:
                rows.append((reader.line_num, (image.strip(), caption)))
    except csv.Error as exc:
        raise BadPairsError(f"{path} line {reader.line_num}: not valid CSV ({exc})") from None
    return rows


def _jsonl_rows(text: str) -> list[Row]:
    rows: list[Row] = []
    for line, content in enumerate(text.splitlines(), 1):
        if not content.strip():
            continue
        try:
            record = json.loads(content)
        except json.JSONDecodeError as exc:
            rows.append((line, f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            rows.append((line, "not a JSON object"))
            continue
        missing = [key for key in (IMAGE_KEY, CAPTION_KEY) if key not in record]
        if missing:
            found = ", ".join(repr(k) for k in record) or "none"
            rows.append((line, f"no {' or '.join(repr(k) for k in missing)} key (found {found})"))
            continue
        image, caption = record[IMAGE_KEY], record[CAPTION_KEY]
        if not isinstance(image, str) or not isinstance(caption, str):
            rows.append((line, f"{IMAGE_KEY!r} and {CAPTION_KEY!r} must be strings"))
            continue
        rows.append((line, (image.strip(), caption)))
    return rows


def decode_pairs(source: PairSource, limits: LimitsConfig, side: int) -> list[LoadedPair]:
    """Checks every pair and decodes its picture, or raises one :class:`BadPairsError`.

    A pair is bad when its caption is empty or its picture is missing, unreadable or not a
    picture the indexer accepts (``limits`` as for indexing). The error lists the source's own
    problems (lines that were no pair at all) first, then the bad pairs, each in file order.
    Pictures are shrunk so that their shorter side is ``side`` (the model's input size), as the
    model's own resizing would, so thousands of photos fit in memory and the model gets the
    same pixels as at search time.
    """
    loaded: list[LoadedPair] = []
    problems = list(source.problems)
    for pair in source.pairs:
        caption = clean_text(pair.caption).strip()  # a file's text, cleaned where it enters
        if not caption:
            problems.append(f"{_where(pair)}: empty caption")
            continue
        try:
            data = _read(pair.image, limits.max_image_bytes)
            image = decode_image(
                data, max_bytes=limits.max_image_bytes, max_pixels=limits.max_image_pixels
            )
        except BadImageError as exc:
            problems.append(f"{_where(pair)}: {exc}")
            continue
        image = shrink(image, side)
        picture = hashlib.sha256(f"{image.size}".encode() + image.tobytes()).hexdigest()
        loaded.append(LoadedPair(image, caption, picture, pair))
    if problems:
        raise BadPairsError(_problem_list(source, problems))
    return loaded


def _where(pair: Pair) -> str:
    """The pair's origin, and its picture file when it has one, for an error message."""
    return f"{pair.origin} ({pair.image})" if isinstance(pair.image, Path) else pair.origin


def _read(image: Path | bytes, max_bytes: int) -> bytes:
    """The picture's bytes; a file is read as indexed files are (regular, at most ``max_bytes``).

    A pairs file may name a symlink on purpose, so the path is resolved first and the file it
    leads to is read with :func:`read_picture_file`: a FIFO is refused instead of blocking, a
    link to ``/dev/zero`` instead of reading without end.
    """
    if isinstance(image, bytes):
        return image
    try:
        return read_picture_file(image.resolve(strict=True), max_bytes)
    except (FileNotFoundError, SourceGoneError):
        raise BadImageError("picture not found") from None
    except RuntimeError:  # a symlink loop (Python < 3.13)
        raise BadImageError("cannot read the picture (a loop of symbolic links)") from None
    except OSError as exc:
        raise BadImageError(f"cannot read the picture ({exc.strerror})") from None


def _problem_list(source: PairSource, problems: list[str]) -> str:
    where = source.description.get("file", "the pairs")
    shown = problems[:MAX_LISTED_PROBLEMS]
    lines = [f"{where}: {len(problems)} bad pair(s); fix them and run again:"]
    lines += [f"  {problem}" for problem in shown]
    if len(problems) > len(shown):
        lines.append(f"  ... and {len(problems) - len(shown)} more")
    return "\n".join(lines)


def shrink(image: Image.Image, side: int) -> Image.Image:
    """``image`` resized so that its shorter side is ``side``, if it is larger.

    Sizes are rounded as torchvision's ``Resize(side)`` rounds them, so the model's own resize
    step then leaves the picture as it is and the result equals resizing the original once.
    """
    width, height = image.size
    short, long = min(width, height), max(width, height)
    if short <= side:
        return image
    new_long = int(side * long / short)
    size = (side, new_long) if width <= height else (new_long, side)
    return image.resize(size, Image.Resampling.BICUBIC)


def split_held_out(
    pairs: Sequence[LoadedPair], fraction: float, seed: int
) -> tuple[list[LoadedPair], list[LoadedPair]]:
    """(training, held-out) pairs, with about ``fraction`` of the pictures held out.

    The split is by picture, so no picture is in both parts, and depends only on the pictures
    and ``seed``: the same file and seed always hold out the same pairs. A fraction above zero
    holds out at least one picture.
    """
    pictures = sorted({pair.picture for pair in pairs})
    random.Random(seed).shuffle(pictures)
    count = max(1, round(fraction * len(pictures))) if fraction > 0 else 0
    held = set(pictures[:count])
    return (
        [pair for pair in pairs if pair.picture not in held],
        [pair for pair in pairs if pair.picture in held],
    )


def pairs_jsonl(pairs: Sequence[Pair]) -> bytes:
    """``pairs`` as the text of a JSONL pairs file, with absolute picture paths.

    Absolute paths keep the file valid wherever it is moved, as long as the pictures stay.
    Only pairs read from files can be written; pictures given as bytes have no path.
    """
    lines = []
    for pair in pairs:
        if not isinstance(pair.image, Path):
            raise TypeError(f"{pair.origin}: a picture given as bytes has no path to write")
        record = {IMAGE_KEY: str(pair.image.resolve()), CAPTION_KEY: pair.caption}
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(lines).encode()
