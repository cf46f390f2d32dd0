"""Pairs files: what they may contain, how bad lines are reported, how pictures are split."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import open_clip
import pytest
import torch
from PIL import Image

from indexer.config import LimitsConfig
from indexer.errors import BadPairsError
from indexer.synthetic import ALL_SPECS, draw_shape
from indexer.training.pairs import (
    MAX_LISTED_PROBLEMS,
    decode_pairs,
    read_pairs_file,
    shrink,
    split_held_out,
)
from tests.local_names import group_pairs, write_pairs_file

LIMITS = LimitsConfig()


def test_csv_and_jsonl_give_the_same_pairs_with_paths_relative_to_the_file(
    tmp_path: Path,
) -> None:
    pairs = group_pairs(per_name=2, everyday=3, seed=1)
    from_csv = read_pairs_file(write_pairs_file(tmp_path / "a" / "pairs.csv", pairs))
    from_jsonl = read_pairs_file(write_pairs_file(tmp_path / "b" / "pairs.jsonl", pairs))
    assert [p.caption for p in from_csv.pairs] == [p.caption for p in from_jsonl.pairs]
    assert [p.caption for p in from_csv.pairs] == [caption for _, caption in pairs]
    assert from_csv.pairs[0].image == tmp_path / "a" / "pictures" / "0000.jpg"
    assert from_jsonl.pairs[0].image == tmp_path / "b" / "pictures" / "0000.jpg"
    assert from_csv.pairs[0].origin == "line 2" and from_jsonl.pairs[0].origin == "line 1"
    decoded = decode_pairs(from_csv, LIMITS, side=48)
    assert [p.picture for p in decoded] == [
        p.picture for p in decode_pairs(from_jsonl, LIMITS, side=48)
    ]


def test_absolute_picture_paths_are_used_as_they_are(tmp_path: Path) -> None:
    picture = tmp_path / "elsewhere" / "star.jpg"
    picture.parent.mkdir()
    draw_shape(ALL_SPECS[0], random.Random(0)).save(picture)
    pairs = tmp_path / "pairs" / "p.jsonl"
    pairs.parent.mkdir()
    pairs.write_text(json.dumps({"image": str(picture), "caption": "a red circle"}) + "\n")
    [pair] = decode_pairs(read_pairs_file(pairs), LIMITS, side=48)
    assert pair.pair.image == picture and pair.caption == "a red circle"


def test_a_long_list_of_bad_lines_shows_the_first_twenty_and_counts_the_rest(
    tmp_path: Path,
) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("image,caption\n" + "".join(f"gone{i}.jpg,x\n" for i in range(25)))
    with pytest.raises(BadPairsError) as error:
        decode_pairs(read_pairs_file(pairs), LIMITS, side=48)
    lines = str(error.value).splitlines()
    assert lines[0] == f"{pairs.resolve()}: 25 bad pair(s); fix them and run again:"
    assert len(lines) == 1 + MAX_LISTED_PROBLEMS + 1
    assert lines[-1].strip() == "... and 5 more"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("pairs.txt", b"image,caption\n", "name the file .csv or .jsonl"),
        ("pairs.csv", b"\xff\xfe\x00", "not a UTF-8 text file"),
        ("pairs.jsonl", b"\n\n", "no pairs in the file"),
    ],
)
def test_a_file_that_is_no_pairs_file_at_all_says_why(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadPairsError, match=message):
        read_pairs_file(path)


def test_held_out_split_is_by_picture_and_the_same_for_the_same_seed(tmp_path: Path) -> None:
    images = [draw_shape(spec, random.Random(i)) for i, spec in enumerate(ALL_SPECS)]
    # Every picture twice, with an English and a Chinese caption.
    pairs = [(image, spec.caption_en) for image, spec in zip(images, ALL_SPECS, strict=True)]
    pairs += [(image, spec.caption_zh) for image, spec in zip(images, ALL_SPECS, strict=True)]
    loaded = decode_pairs(read_pairs_file(write_pairs_file(tmp_path / "p.csv", pairs)), LIMITS, 48)

    train, held_out = split_held_out(loaded, fraction=0.2, seed=7)
    assert not {p.picture for p in train} & {p.picture for p in held_out}
    assert len({p.picture for p in held_out}) == round(0.2 * len(ALL_SPECS))
    assert len(held_out) == 2 * round(0.2 * len(ALL_SPECS))
    again = split_held_out(list(reversed(loaded)), fraction=0.2, seed=7)[1]
    assert {p.picture for p in again} == {p.picture for p in held_out}
    other = split_held_out(loaded, fraction=0.2, seed=8)[1]
    assert {p.picture for p in other} != {p.picture for p in held_out}
    assert split_held_out(loaded, fraction=0.0, seed=7) == (loaded, [])


@pytest.mark.parametrize("size", [(640, 480), (333, 1001), (224, 224)])
@pytest.mark.parametrize("side", [48, 224])
def test_shrinking_first_gives_the_model_the_same_input_as_the_original(
    size: tuple[int, int], side: int
) -> None:
    preprocess = open_clip.image_transform(side, is_train=False)
    original = draw_shape(ALL_SPECS[7], random.Random(1), size=max(size)).resize(size)
    shrunk = shrink(original, side)
    assert min(shrunk.size) == min(side, min(size))
    assert torch.equal(preprocess(shrunk), preprocess(original))


def test_pictures_smaller_than_the_model_input_are_kept_as_they_are() -> None:
    small = Image.new("RGB", (30, 40))
    assert shrink(small, 48) is small


def test_a_fifo_or_a_link_to_dev_zero_is_a_bad_pair_not_a_hang(tmp_path: Path) -> None:
    """Pictures are read like indexed files: regular files only, never past the size cap."""
    picture = tmp_path / "star.jpg"
    draw_shape(ALL_SPECS[0], random.Random(0)).save(picture)
    (tmp_path / "linked.jpg").symlink_to(picture)  # a link named on purpose is followed
    os.mkfifo(tmp_path / "pipe.jpg")  # an ordinary open would block forever
    (tmp_path / "zero.jpg").symlink_to("/dev/zero")  # an unbounded read would fill the memory
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "image,caption\nlinked.jpg,a star\npipe.jpg,a pipe\nzero.jpg,zeros\ngone.jpg,gone\n"
    )
    started = time.monotonic()
    with pytest.raises(BadPairsError) as error:
        decode_pairs(read_pairs_file(pairs), LIMITS, side=48)
    assert time.monotonic() - started < 10
    lines = [line.strip() for line in str(error.value).splitlines()]
    assert lines[0].endswith("3 bad pair(s); fix them and run again:")
    assert lines[1] == f"line 3 ({tmp_path / 'pipe.jpg'}): not a regular file (a named pipe)"
    assert lines[2] == f"line 4 ({tmp_path / 'zero.jpg'}): not a regular file (a character device)"
    assert lines[3] == f"line 5 ({tmp_path / 'gone.jpg'}): picture not found"


def test_a_picture_over_the_size_cap_is_a_bad_pair(tmp_path: Path) -> None:
    picture = tmp_path / "big.jpg"
    draw_shape(ALL_SPECS[0], random.Random(0)).save(picture)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("image,caption\nbig.jpg,a star\n")
    small = LimitsConfig(max_image_bytes=100)
    with pytest.raises(BadPairsError, match=r"line 2 .*: too large \(more than 100 bytes"):
        decode_pairs(read_pairs_file(pairs), small, side=48)


def test_captions_of_a_pairs_file_are_cleaned_where_they_enter(tmp_path: Path) -> None:
    """A caption's NUL, lone surrogate (a JSON escape), bidi override or non-character never
    reaches training, the held-out file or the model card; one of nothing else is empty."""
    draw_shape(ALL_SPECS[0], random.Random(0)).save(tmp_path / "a.jpg", format="JPEG")
    lines = [
        {"image": "a.jpg", "caption": "人民\x00广场\ud800 \u202eok\ufffe"},
        {"image": "a.jpg", "caption": "\u202e\x00"},
    ]
    pairs_file = tmp_path / "pairs.jsonl"
    pairs_file.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    source = read_pairs_file(pairs_file)

    with pytest.raises(BadPairsError) as refused:
        decode_pairs(source, LIMITS, side=48)
    assert "line 2" in str(refused.value) and "empty caption" in str(refused.value)
    source.pairs.pop()
    [loaded] = decode_pairs(source, LIMITS, side=48)
    assert loaded.caption == "人民广场 ok"
