"""Forgetting erases: after a forget or an opt-out, neither the database, its WAL nor a backup
taken afterwards holds the caption, the poster's name or the Telegram file id of the post, and
a repost's caption goes with the person who wrote it. What stays is what "a deletion wins"
needs: the message id, the content hash and an opaque key of the source."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from indexer.config import IndexerConfig
from indexer.records import ImageFacts
from indexer.service import IndexService
from indexer.store.backup import backup_database
from indexer.synthetic import ShapeSpec

#: Words, names and ids that can be found in the files only if something kept them.
CAPTION = "Zorblatquux lagoon at dawn"
REPOST_CAPTION = "Quimbleford reposted sunset"
TAG = "Frobnitzel Plaza"
NAME = "Wilhelmina Snodgrass"
FILE_ID = "AgACAgFileIdThatMustGoAway42"
UNIQUE_ID = "AQADuniqueMustGoAway"


def _everything_on_disk(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def _traces(data: bytes) -> list[str]:
    words = [CAPTION, REPOST_CAPTION, TAG, NAME, FILE_ID, UNIQUE_ID]
    return [word for word in words if word.encode() in data or word.casefold().encode() in data]


async def _post_and_repost(service: IndexService, data: bytes) -> tuple[int, int]:
    original = await service.add_image(
        "chat",
        ImageFacts(
            source=f"telegram:{FILE_ID}",
            file_unique_id=UNIQUE_ID,
            poster_id=1,
            poster_name=NAME,
            message_id=10,
            caption=CAPTION,
        ),
        data=data,
    )
    repost = await service.add_image(
        "chat",
        ImageFacts(
            source="telegram:another-file-id",
            file_unique_id=UNIQUE_ID,
            poster_id=2,
            poster_name="Bob",
            message_id=11,
            caption=REPOST_CAPTION,
        ),
    )
    await service.wait_idle()
    assert original.image_id is not None and repost.image_id is not None
    return original.image_id, repost.image_id


async def test_forget_leaves_no_caption_name_or_file_id_in_the_files_or_a_backup(
    indexer_config: IndexerConfig,
    service: IndexService,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
    tmp_path: Path,
) -> None:
    original, _ = await _post_and_repost(service, held_out_pictures[0][0])
    await service.tag("chat", [original], TAG, tagged_by=3)
    data_dir = indexer_config.storage.data_dir
    assert _traces(_everything_on_disk(data_dir)), "the test would pass on any files"

    assert await service.forget("chat", [original]) == 2
    backup = await backup_database(data_dir, str(tmp_path / "backup.sqlite3"))

    assert _traces(_everything_on_disk(data_dir)) == []
    assert _traces(backup.read_bytes()) == []
    assert await service.search_text(["chat"], CAPTION) == []
    # A deletion still wins: the same post delivered again is known as forgotten.
    again = ImageFacts(source=f"telegram:{FILE_ID}", message_id=10, caption=CAPTION)
    assert (await service.add_image("chat", again)).outcome == "forgotten"


async def test_a_reposts_caption_goes_with_the_repost(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    original, repost = await _post_and_repost(service, held_out_pictures[0][0])
    assert [hit.image.id for hit in await service.search_text(["chat"], REPOST_CAPTION)] == [
        original
    ]

    await service.forget("chat", [repost])

    hits = await service.search_text(["chat"], REPOST_CAPTION)
    assert all(REPOST_CAPTION not in (hit.matched_text or "") for hit in hits)
    [listed] = [p for p in await service.list_pictures("chat", _all()) if p.image.id == original]
    assert listed.image.caption == CAPTION


async def test_opting_out_takes_the_persons_captions_and_tags_on_other_pictures(
    indexer_config: IndexerConfig,
    service: IndexService,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    original, _ = await _post_and_repost(service, held_out_pictures[0][0])
    await service.tag("chat", [original], TAG, tagged_by=2)

    await service.opt_out("chat", 2)

    on_disk = _everything_on_disk(indexer_config.storage.data_dir)
    assert REPOST_CAPTION.encode() not in on_disk and TAG.encode() not in on_disk
    assert CAPTION.encode() in on_disk  # the original poster's own words stay


def _all():
    from indexer.records import PictureFilter

    return PictureFilter()


async def test_a_forget_beside_another_programs_reader_returns_while_it_reads(
    indexer_config: IndexerConfig,
    service: IndexService,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    """The WAL cannot be emptied under another program's open read; the forget still returns
    (its rows are erased), and the WAL empties at a later checkpoint."""
    original, _ = await _post_and_repost(service, held_out_pictures[0][0])
    reading, done = threading.Event(), threading.Event()

    def hold_a_read() -> None:
        reader = sqlite3.connect(indexer_config.storage.data_dir / "index.sqlite3")
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM images").fetchone()
        reading.set()
        # Released as soon as the forget returns. A forget that waited for this reader as long
        # as a write waits for a lock (60 s) would outlast the 30 s it holds at most.
        done.wait(timeout=30)
        reader.close()

    holder = threading.Thread(target=hold_a_read)
    holder.start()
    try:
        await asyncio.to_thread(reading.wait, 60)
        assert await service.forget("chat", [original]) == 2
        still_reading = not done.is_set()
    finally:
        done.set()
        await asyncio.to_thread(holder.join)

    assert still_reading
    assert await service.search_text(["chat"], CAPTION) == []
