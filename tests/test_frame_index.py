"""A query matches a clip by its best frame, whatever the rest of the clip shows.

The clip here is dark for 7 of its 8 seconds and shows a red circle only in its last second, so
the mean of its frames is far from "a red circle": found only through the frame index, where
every frame is a candidate of its own. Among a dozen stills (none a red circle) it must come
first, at its last second, for a description and for a picture of its subject; forgetting it
must leave none of its frames in the FAISS files, and ``check`` must see a frame index out of
step with SQLite and ``--repair`` must mend it. A data folder of schema 9 (frames without ids
of their own) gets its frames numbered and indexed when it is opened.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from indexer.cli import main
from indexer.config import IndexerConfig, ModelConfig
from indexer.records import FRAME_VECTORS, ImageFacts
from indexer.service import Embedder, IndexService
from indexer.store import DATABASE_FILE
from indexer.store.database import MIGRATIONS
from indexer.synthetic import ALL_SPECS, ShapeSpec, draw_shape
from indexer.synthetic_clips import make_clip
from indexer.vectors.backend import faiss_files
from tests.conftest import jpeg_bytes, make_config

RED_CIRCLE = next(s for s in ALL_SPECS if s.slug == "red_circle")
#: 8 seconds at 2 frames a second; the circle fills only the last one.
DARK_CLIP = make_clip(RED_CIRCLE, "mp4", seconds=8.0, dark_seconds=7.0, fps=2, size=64)


@pytest.fixture
def config(tmp_path: Path, model_config: ModelConfig) -> IndexerConfig:
    (tmp_path / "config.toml").write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        f'[storage]\ndata_dir = "{tmp_path / "data"}"\n[ocr]\nenabled = false\n'
    )
    return make_config(tmp_path / "data", model_config)


async def _index(
    config: IndexerConfig, embedder: Embedder, stills: list[tuple[bytes, ShapeSpec]]
) -> int:
    """Twelve stills of other subjects and the dark clip; returns the clip's id."""
    others = [(data, s) for data, s in stills if s.slug != "red_circle"][:12]
    async with await IndexService.open(config, embedder) as service:
        for number, (data, _) in enumerate(others):
            await service.add_image("chat", ImageFacts(f"upload:still/{number}"), data=data)
        added = await service.add_image(
            "chat", ImageFacts("upload:dark_clip", kind="video"), data=DARK_CLIP
        )
        await service.wait_idle()
    assert added.image_id is not None
    return added.image_id


async def test_a_clip_showing_its_subject_only_at_its_end_is_found_there(
    config: IndexerConfig, embedder: Embedder, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    clip_id = await _index(config, embedder, held_out_pictures)
    async with await IndexService.open(config, embedder) as service:
        by_text = await service.search_text(["chat"], RED_CIRCLE.caption_en, k=1)
        circle = draw_shape(RED_CIRCLE, random.Random(5), 96)
        by_picture = await service.search_image(["chat"], jpeg_bytes(circle), k=1)
        page = await service.search_text(["chat"], RED_CIRCLE.caption_en, k=13)
    for hits in (by_text, by_picture):
        assert hits[0].image.id == clip_id
        assert hits[0].moment is not None and hits[0].moment >= 6.5
    assert [hit.image.id for hit in page].count(clip_id) == 1


async def test_forgetting_the_clip_leaves_none_of_its_frames_in_the_faiss_files(
    config: IndexerConfig, embedder: Embedder, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    clip_id = await _index(config, embedder, held_out_pictures)
    async with await IndexService.open(config, embedder) as service:
        model = service.engine.model_id
        _, vectors = (await service.engine.store.vectors.frames([clip_id], model))[clip_id]
        ids = await service.engine.store.vectors.live_ids(1, model, FRAME_VECTORS)
        files = faiss_files(config, FRAME_VECTORS)
        saved = files.load(1, model)
        assert saved is not None and sorted(saved.ids().tolist()) == sorted(ids.tolist())
        assert len(ids) == 8
        circle = np.ascontiguousarray(vectors[-1], np.float32).tobytes()
        assert circle in files.path(1, model).read_bytes()
        await service.forget("chat", [clip_id])
    saved = files.load(1, model)
    assert saved is not None and len(saved) == 0
    on_disk = b"".join(p.read_bytes() for p in (config.storage.data_dir / "faiss").rglob("*"))
    assert circle not in on_disk


def test_check_sees_a_frame_index_out_of_step_and_repair_mends_it(
    config: IndexerConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    asyncio.run(_index(config, embedder, held_out_pictures))
    model = embedder.identity
    files = faiss_files(config, FRAME_VECTORS)
    files.path(1, model).unlink()
    config_file = str(config.storage.data_dir.parent / "config.toml")
    assert main(["--config", config_file, "check"]) == 1
    assert "frames index" in capsys.readouterr().out
    assert main(["--config", config_file, "check", "--repair"]) == 0
    assert main(["--config", config_file, "check"]) == 0
    repaired = files.load(1, model)
    assert repaired is not None and len(repaired) == 8


async def test_a_schema_9_folder_gets_its_frames_numbered_and_indexed_at_start(
    config: IndexerConfig, embedder: Embedder, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    clip_id = await _index(config, embedder, held_out_pictures)
    # Back to schema 9 as it was written: clip_frames keyed by (clip, model, position), no
    # index by kind (schema 11), no frame index on disk.
    with sqlite3.connect(config.storage.data_dir / DATABASE_FILE) as db:
        db.executescript(
            "CREATE TABLE old_frames AS "
            "SELECT image_id, model_id, position, seconds, vector FROM clip_frames; "
            f"DROP TABLE clip_frames; {MIGRATIONS[7]} "
            "INSERT INTO clip_frames SELECT * FROM old_frames; DROP TABLE old_frames; "
            "DROP INDEX images_by_kind; UPDATE schema_version SET version = 9;"
        )
    shutil.rmtree(config.storage.data_dir / "faiss")
    async with await IndexService.open(config, embedder) as service:
        hits = await service.search_text(["chat"], RED_CIRCLE.caption_en, k=1)
    assert hits[0].image.id == clip_id
    assert hits[0].moment is not None and hits[0].moment >= 6.5
    with sqlite3.connect(config.storage.data_dir / DATABASE_FILE) as db:
        numbered = db.execute("SELECT id, position FROM clip_frames ORDER BY id").fetchall()
    assert [position for _, position in numbered] == list(range(8))


async def test_a_clip_found_through_its_frames_still_obeys_the_filters(
    config: IndexerConfig, embedder: Embedder, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    clip_id = await _index(config, embedder, held_out_pictures)
    async with await IndexService.open(config, embedder) as service:
        stills_only = service.parse_query(f"{RED_CIRCLE.caption_en} kind:photo")
        by_text = await service.search_text(
            ["chat"], stills_only.words, k=13, filters=stills_only.filters
        )
        circle = draw_shape(RED_CIRCLE, random.Random(5), 96)
        by_picture = await service.search_image(
            ["chat"], jpeg_bytes(circle), k=13, filters=stills_only.filters
        )
        clips_only = service.parse_query(f"{RED_CIRCLE.caption_en} kind:video")
        videos = await service.search_text(
            ["chat"], clips_only.words, k=13, filters=clips_only.filters
        )
    assert by_text and by_picture
    assert clip_id not in {hit.image.id for hit in by_text + by_picture}
    assert [hit.image.id for hit in videos] == [clip_id]


async def test_a_clip_moved_by_a_merge_of_chats_is_still_found_by_its_frames(
    config: IndexerConfig, embedder: Embedder, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    """A group that becomes a supergroup while the new chat id already has pictures: both
    collections' indexes are rebuilt from SQLite, the frame index too."""
    clip_id = await _index(config, embedder, held_out_pictures)
    async with await IndexService.open(config, embedder) as service:
        await service.add_image(
            "supergroup", ImageFacts("upload:new"), data=held_out_pictures[0][0]
        )
        await service.wait_idle()
        # Both chats' indexes are in memory before the merge, as in a running bot.
        for chat in ("chat", "supergroup"):
            await service.search_text([chat], RED_CIRCLE.caption_en, k=1)
        await service.move_collection("chat", "supergroup")
        hits = await service.search_text(["supergroup"], RED_CIRCLE.caption_en, k=1)
    assert hits[0].image.id == clip_id
    assert hits[0].moment is not None and hits[0].moment >= 6.5
