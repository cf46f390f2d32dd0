"""Faults found by the outside attack on words in pictures, clips and the int8 text tower: what
an unlucky operator meets (a kill -9 at the wrong moment, a damaged cache file), each with the
real part that met it."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import resource
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from bot_world import BotWorld, bot_config

from bot.chats import collection_of
from bot.playground.fake_telegram import FakeTelegram
from indexer.cli import main
from indexer.config import ModelConfig, OcrConfig
from indexer.embed.clips import ClipLimits, decode_clip
from indexer.errors import BadImageError
from indexer.model import onnx_text
from indexer.model.embedder import Embedder
from indexer.ocr.samples import lettered_picture
from indexer.store import Store
from indexer.synthetic import ALL_SPECS
from indexer.synthetic_clips import make_clip

pytest_plugins = ["bot_fixtures"]

REPO = Path(__file__).resolve().parent.parent

#: A process that starts the real recogniser, pauses it mid-way (as reading does when pictures
#: arrive to be embedded), prints the child's id and waits to be killed.
_PAUSED_READER = """
import asyncio
from indexer.config import LimitsConfig, OcrConfig
from indexer.ocr.recogniser import Recogniser

async def main():
    recogniser = Recogniser(OcrConfig(), LimitsConfig())
    await recogniser.start()
    recogniser.pause()
    print(recogniser.pid, flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_a_paused_recogniser_does_not_outlive_its_killed_parent() -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    parent = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_READER],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "a stopped recogniser of ~130 MB was left behind"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_a_damaged_cached_text_tower_is_exported_again(
    model_config: ModelConfig, tmp_path: Path
) -> None:
    config = model_config.model_copy(update={"text_runtime": "onnx-int8", "cache_dir": tmp_path})
    first = Embedder.load(config)
    [cached] = (tmp_path / "text-onnx").glob("*.onnx")
    reference = first.encode_texts(["a red circle"])
    cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])
    again = Embedder.load(config)
    assert again.text_runtime == "onnx-int8"
    assert float((again.encode_texts(["a red circle"]) * reference).sum()) >= 0.999
    assert onnx_text.text_session(cached) is not None


async def test_a_video_sticker_is_not_read_for_words_nor_counted_unreadable(
    fake: FakeTelegram, tmp_path: Path, model_config: ModelConfig, embedder: Embedder
) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    config = bot_config(fake, tmp_path / "data", model_config)
    reading = config.indexer.model_copy(update={"ocr": OcrConfig()})
    world = BotWorld(fake, dataclasses.replace(config, indexer=reading), embedder)
    clip = make_clip(next(s for s in ALL_SPECS if s.slug == "blue_square"), "webm")
    async with world.running():
        group, alice = fake.add_group("Stickers"), fake.add_user("Alice")
        fake.send_sticker(group, alice, data=clip, is_video=True)
        await world.until_indexed(group, 1)
        stats = await world._service().stats(collection_of(group.id))

    assert stats.images == 1
    assert (stats.readings.unread, stats.readings.unreadable) == (0, 0), stats.readings
    assert len(fake.calls("getFile")) == 1, "the sticker was downloaded again to be read"


def test_words_are_not_read_from_a_file_changed_since_it_was_indexed(
    tmp_path: Path, model_config: ModelConfig
) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    shot = pictures / "shot.png"
    lettered_picture(["Holiday plans", "Beach on Friday"], "screenshot", seed=1).save(shot)
    model = f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
    config = tmp_path / "config.toml"
    config.write_text(f'{model}[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n')
    assert main(["--config", str(config), "index", str(pictures), "--collection", "c"]) == 0
    # The same path now holds another picture; reading (turned on now, or the schema 9
    # upgrade of an older folder) must not give the indexed picture the new file's words.
    lettered_picture(["Bank PIN 4821", "Account of Zoltan"], "screenshot", seed=2).save(shot)
    config.write_text(f'{model}[storage]\ndata_dir = "data"\n')
    main(["--config", str(config), "index", str(pictures), "--collection", "c"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["--config", str(config), "list", "--collection", "c", "--json"])
    [listed] = json.loads(out.getvalue())
    assert listed["words"] is None, listed


@pytest.mark.parametrize(
    "key", ["ocr.seconds_per_picture", "limits.clip_decode_seconds", "limits.download_seconds"]
)
def test_an_endless_time_limit_is_refused_naming_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    section, name = key.split(".")
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndata_dir = "data"\n[{section}]\n{name} = inf\n')
    assert main(["--config", str(config), "stats"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: invalid configuration: ") and key in line, line


@pytest.mark.parametrize("container", ["matroska", "mp4", "mpegts"])
def test_a_clip_whose_timestamps_start_an_hour_in_is_read_from_its_first_frame(
    container: str,
) -> None:
    # A cut from a longer recording or a live stream keeps its timestamps: the first frame
    # shows at 01:00:00, yet it is the clip's first moment.
    rate, output = 6, io.BytesIO()
    with av.open(output, "w", format=container) as clip:
        stream = clip.add_stream("libx264", rate=rate)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for index in range(3 * rate):
            shade = np.full((64, 64, 3), index * 12, np.uint8)
            frame = av.VideoFrame.from_ndarray(shade, format="rgb24")
            frame.pts, frame.time_base = 3600 * rate + index, Fraction(1, rate)
            clip.mux(stream.encode(frame))
        clip.mux(stream.encode(None))
    limits = ClipLimits(frames=8, max_pixels=10**6, seconds=600, decode_seconds=30, short_side=48)
    frames = decode_clip(output.getvalue(), limits)
    assert len(frames.images) == 8
    assert frames.seconds[0] < 0.5 and 2.0 < frames.seconds[-1] < 3.0, frames.seconds


def test_a_clip_whose_frames_are_larger_than_its_header_says_is_refused_before_decoding() -> None:
    # A few KB of WebM: the container says 96×96, the VP8 key frame 16000×16000. Decoding it
    # would allocate ~1 GB (a few of them side by side: the OOM killer) before any check.
    clip = bytearray(make_clip(next(s for s in ALL_SPECS if s.slug == "red_circle"), "webm"))
    key_frame = clip.find(b"\x9d\x01\x2a" + struct.pack("<HH", 96, 96))
    clip[key_frame + 3 : key_frame + 7] = struct.pack("<HH", 16000, 16000)
    limits = ClipLimits(frames=8, max_pixels=10**6, seconds=600, decode_seconds=30, short_side=48)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(BadImageError):
        decode_clip(bytes(clip), limits)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 100, f"peak memory grew by {grown_mib:.0f} MiB"


def test_a_forget_leaves_no_trigram_of_the_words_in_the_database_file(
    tmp_path: Path, model_config: ModelConfig, held_out_pictures: list[tuple[bytes, object]]
) -> None:
    # The word index keeps a deleted text's trigrams (in its old segment and in the deletion
    # marker) until its segments are merged: a phone number read in a screenshot could be
    # read back from the file after the forget.
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for number, (data, _) in enumerate(held_out_pictures[:2]):
        (pictures / f"p{number}.jpg").write_bytes(data)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        '[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n'
    )
    base = ["--config", str(config)]
    assert main([*base, "index", str(pictures), "--collection", "c"]) == 0
    kept, forgotten = str(pictures / "p0.jpg"), str(pictures / "p1.jpg")
    assert main([*base, "tag", "Harbour walk", "--collection", "c", "--path", kept]) == 0
    assert (
        main([*base, "tag", "Call Quxzolvik Wyngard", "--collection", "c", "--path", forgotten])
        == 0
    )
    assert main([*base, "forget", "--collection", "c", "--path", forgotten]) == 0
    on_disk = b"".join(path.read_bytes() for path in (tmp_path / "data").glob("index.sqlite3*"))
    grams = ("qux", "uxz", "xzo", "zol", "olv", "lvi", "vik", "wyn", "yng", "nga", "gar")
    left = [gram for gram in grams if gram.encode() in on_disk]
    assert not left, f"trigrams of the forgotten words still in the file: {left}"


async def test_finding_the_next_picture_to_read_does_not_walk_every_picture_read(
    tmp_path: Path,
) -> None:
    # After the schema 9 upgrade every picture waits to be read; looking for the next one from
    # the first picture each time walks all those read so far: quadratic in the collection.
    path = tmp_path / "index.sqlite3"
    await (await Store.open(path)).close()
    count = 100_000
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO collections (id, name, created_at) VALUES (1, 'c', 0)")
        db.executemany(
            "INSERT INTO images (id, collection_id, source, status, added_at, kind) "
            "VALUES (?, 1, ?, 'indexed', 0, 'photo')",
            ((n, f"file:/p/{n}.jpg") for n in range(1, count + 1)),
        )
        db.executemany(
            "INSERT INTO picture_readings (image_id, attempts, read_at) VALUES (?, 1, 1)",
            ((n,) for n in range(1, count - 1)),
        )
    store = await Store.open(path)
    try:
        started = time.perf_counter()
        [first] = await store.readings.unread(["file"], 1, 3)
        from_start = time.perf_counter() - started
        started = time.perf_counter()
        [following] = await store.readings.unread(["file"], 1, 3, after=first.id)
        from_last = time.perf_counter() - started
    finally:
        await store.close()
    assert (first.id, following.id) == (count - 1, count)
    assert from_last < from_start / 10, (from_start, from_last)
