"""Clips (MP4, WebM, animated GIF) found by what they show, not by their first frame.

Every clip here is black for its first second and only then shows its shape, so a clip found by
a description of that shape was found by a later frame. The folder is indexed once through the
command line's own path (``collect_folder``); each test reopens the service on it.
"""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from indexer.cli.index_folder import FolderReport, collect_folder
from indexer.cli.output import print_listing
from indexer.config import IndexerConfig, ModelConfig
from indexer.embed.clips import ClipLimits, decode_clip
from indexer.errors import BadImageError
from indexer.records import ImageFacts, PictureFilter
from indexer.service import Embedder, IndexService
from indexer.synthetic import ALL_SPECS, ShapeSpec, draw_shape
from indexer.synthetic_clips import make_clip
from tests.conftest import jpeg_bytes, make_config

REPO = Path(__file__).resolve().parent.parent
CLIPS = {
    "red_circle.mp4": "red_circle",
    "blue_square.webm": "blue_square",
    "green_star.gif": "green_star",
}


def spec(slug: str) -> ShapeSpec:
    return next(s for s in ALL_SPECS if s.slug == slug)


@pytest.fixture(scope="module")
def indexed(
    tmp_path_factory: pytest.TempPathFactory,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> tuple[IndexerConfig, Path, FolderReport]:
    """A folder of six pictures (none of the clips' subjects) and three clips, indexed."""
    root = tmp_path_factory.mktemp("clips")
    folder = root / "folder"
    folder.mkdir()
    clip_slugs = set(CLIPS.values())
    stills = [(data, s) for data, s in held_out_pictures if s.slug not in clip_slugs][:6]
    for number, (data, s) in enumerate(stills):
        (folder / f"{s.slug}_{number}.jpg").write_bytes(data)
    for name, slug in CLIPS.items():
        (folder / name).write_bytes(make_clip(spec(slug), name.rpartition(".")[2]))  # type: ignore[arg-type]
    (root / "config.toml").write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        '[storage]\ndata_dir = "data"\n'
    )
    config = make_config(root / "data", model_config)

    async def index() -> FolderReport:
        async with await IndexService.open(config, embedder) as service:
            return await collect_folder(service, folder, "clips", follow_outside=False)

    return config, root, asyncio.run(index())


@pytest.fixture
async def service(
    indexed: tuple[IndexerConfig, Path, FolderReport], embedder: Embedder
) -> AsyncIterator[IndexService]:
    async with await IndexService.open(indexed[0], embedder) as opened:
        yield opened


def test_a_folder_of_pictures_and_clips_counts_every_clip(
    indexed: tuple[IndexerConfig, Path, FolderReport],
) -> None:
    report = indexed[2]
    assert (report.files, report.clips, report.indexed, report.failed) == (9, 3, 9, [])


@pytest.mark.parametrize("name", sorted(CLIPS))
async def test_a_clip_is_found_by_what_it_shows_after_its_first_second(
    service: IndexService, name: str
) -> None:
    wanted = spec(CLIPS[name])
    hits = await service.search_text(["clips"], wanted.caption_en, k=3)
    assert hits[0].image.source.endswith(name)
    assert hits[0].image.kind == ("gif" if name.endswith(".gif") else "video")
    assert hits[0].moment is not None and hits[0].moment >= 0.9
    assert [h.image.id for h in hits].count(hits[0].image.id) == 1


async def test_a_clip_scores_by_its_best_frame_not_its_first(service: IndexService) -> None:
    """The black first frame matches a red circle far worse than the clip does."""
    hits = await service.search_text(["clips"], "a red circle", k=1)
    black = jpeg_bytes(Image.new("RGB", (96, 96)))
    query = await service.picture_query(black)
    text = await service.engine.pipeline.embed_texts(["a red circle"])
    assert hits[0].score > float(query.vector[0] @ text[0]) + 0.1


async def test_a_still_frame_of_a_clip_finds_the_clip(service: IndexService) -> None:
    frame = draw_shape(spec("blue_square"), __import__("random").Random(0), 96)
    query = await service.picture_query(jpeg_bytes(frame))
    hits = await service.search_image(["clips"], query, k=1)
    assert hits[0].image.source.endswith("blue_square.webm")
    assert hits[0].moment is not None and hits[0].moment >= 0.9


async def test_forgetting_a_clip_removes_every_frame(service: IndexService) -> None:
    hits = await service.search_text(["clips"], "a green star", k=1)
    clip_id = hits[0].image.id
    model = service.engine.model_id
    assert await service.engine.store.vectors.frames([clip_id], model)
    await service.forget("clips", [clip_id])
    assert await service.engine.store.vectors.frames([clip_id], model) == {}
    after = await service.search_text(["clips"], "a green star", k=9)
    assert clip_id not in [h.image.id for h in after]


def test_search_shows_a_clips_kind_and_matched_moment(
    indexed: tuple[IndexerConfig, Path, FolderReport],
) -> None:
    found = run_cli(indexed[1], "search", "a red circle", "--collection", "clips", "-k", "1")
    assert "red_circle.mp4" in found.stdout and " 1. video " in found.stdout, found.stdout
    assert "at 00:0" in found.stdout and "at 00:00" not in found.stdout, found.stdout


async def test_list_shows_a_clips_kind(
    service: IndexService, capsys: pytest.CaptureFixture[str]
) -> None:
    print_listing(await service.list_pictures("clips", PictureFilter()))
    listed = capsys.readouterr().out
    assert "indexed  video  " in listed and "red_circle.mp4" in listed, listed


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "indexer", "--config", str(root / "config.toml"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


LIMITS = ClipLimits(frames=8, max_pixels=1920 * 1080, seconds=600, decode_seconds=5, short_side=64)


def encoded(width: int, height: int, frames: int, rate: int = 25) -> bytes:
    """An H.264 MP4 of plain grey frames."""
    output = io.BytesIO()
    with av.open(output, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        grey = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90, np.uint8), format="rgb24")
        for _ in range(frames):
            container.mux(stream.encode(grey))
        container.mux(stream.encode(None))
    return output.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"PK\x03\x04" + b"\0" * 2000, "not a picture or a clip"),
        (encoded(2048, 1088, 2), "too large (2048×1088 pixels"),
        (make_clip(spec("red_circle"))[:900], "clip"),
    ],
    ids=["zip-named-mp4", "huge-dimensions", "truncated"],
)
def test_a_hostile_clip_fails_alone_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BadImageError, match=re.escape(reason)):
        decode_clip(data, LIMITS)


def test_a_long_clip_is_read_only_as_far_as_the_caps_allow() -> None:
    """A 40-second clip with a 10-second cap: frames come only from its first 10 seconds."""
    clip = encoded(64, 64, 40 * 5, rate=5)
    frames = decode_clip(clip, ClipLimits(8, 64 * 64, seconds=10, decode_seconds=5, short_side=64))
    assert len(frames.images) == 8
    assert max(frames.seconds) <= 10 and max(frames.seconds) >= 8


async def test_a_bad_clip_fails_alone_beside_good_ones(service: IndexService) -> None:
    good = make_clip(spec("purple_cross"), "webm")
    for number, data in enumerate([b"\x1aE\xdf\xa3 not really a webm", good]):
        await service.add_image(
            "clips", ImageFacts(f"upload:bad/{number}", kind="video"), data=data
        )
    await service.wait_idle()
    hits = await service.search_text(["clips"], "a purple cross", k=1)
    assert hits[0].image.source == "upload:bad/1"
    failed = await service.list_pictures("clips", PictureFilter(status="failed"))
    assert [listed.image.source for listed in failed] == ["upload:bad/0"]


def test_a_clip_that_decodes_past_its_deadline_with_no_frame_fails() -> None:
    limits = ClipLimits(8, 64 * 64, seconds=600, decode_seconds=1e-9, short_side=64)
    with pytest.raises(BadImageError, match="no frame"):
        decode_clip(encoded(64, 64, 10), limits)


async def test_reindexing_keeps_a_clips_frames_and_moment(service: IndexService) -> None:
    await service.reindex("clips")
    hits = await service.search_text(["clips"], "a red circle", k=1)
    assert hits[0].image.source.endswith("red_circle.mp4")
    assert hits[0].moment is not None and hits[0].moment >= 0.9
