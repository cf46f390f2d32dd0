"""Indexing a folder of picture files: what ``python -m indexer index DIR`` and the demo do."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tqdm import tqdm

from indexer.errors import IndexerError
from indexer.records import ImageFacts
from indexer.service import IndexService

#: Files that ``index`` treats as pictures; anything else in the folder is left alone.
PICTURE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"})


def is_chat_collection(name: str) -> bool:
    """Whether ``name`` is the collection of a Telegram chat: the bot names each one by its
    chat id, a whole number (negative for groups)."""
    return name.removeprefix("-").isdigit()


def file_source(path: Path) -> str:
    """The source string under which a local file is indexed."""
    return f"file:{path.resolve()}"


async def index_directory(service: IndexService, directory: Path, collection: str) -> int:
    """Indexes every picture file under ``directory``; returns 1 if any failed."""
    if is_chat_collection(collection):
        raise IndexerError(
            f"collection {collection} is a Telegram chat's (a whole number); the bot can only "
            "send its members pictures posted in the chat: index files into a named collection"
        )
    if not directory.is_dir():
        raise IndexerError(f"not a folder: {directory}")
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in PICTURE_SUFFIXES)
    queued: list[int] = []
    skipped = 0
    for path in tqdm(files, desc="queueing", unit="file", disable=None, leave=False):
        result = await service.add_image(
            collection,
            ImageFacts(source=file_source(path), posted_at=path.stat().st_mtime),
        )
        if result.outcome == "queued" and result.image_id is not None:
            queued.append(result.image_id)
        else:
            skipped += 1
    await _wait_with_progress(service, collection, len(queued))
    records = await service.images(queued)
    failed = [r for r in records.values() if r.status == "failed"]
    reposts = sum(r.status == "repost" for r in records.values())
    print(
        f"{len(files)} files: {len(queued) - len(failed) - reposts} indexed, "
        f"{reposts} duplicates, {skipped} already known, {len(failed)} failed"
    )
    for record in failed:
        print(f"  failed: {record.source.partition(':')[2]}: {record.error}")
    return 1 if failed else 0


async def _wait_with_progress(service: IndexService, collection: str, total: int) -> None:
    if total == 0:
        await service.wait_idle()
        return
    idle = asyncio.create_task(service.wait_idle())
    with tqdm(total=total, desc="embedding", unit="img", disable=None) as bar:
        while not idle.done():
            await asyncio.wait([idle], timeout=0.5)
            pending = (await service.stats(collection)).pending
            bar.update(max(0, total - pending) - bar.n)
    await idle
