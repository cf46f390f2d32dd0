"""Indexing a folder of picture files: what ``python -m indexer index DIR`` and the demo do.

Only regular files named like pictures are handed over, each at most ``limits.max_image_bytes``
(:mod:`indexer.embed.files`); a FIFO, a device, a dangling link or a link leading outside the folder
is skipped with its reason, never read. The summary counts what really happened to each
picture, and :attr:`FolderReport.exit_status` says it to scripts.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from indexer.embed.files import NotAPictureFileError, checked_file_stat
from indexer.errors import IndexerError, SourceGoneError
from indexer.invocation import indexer_command
from indexer.records import ImageFacts

if TYPE_CHECKING:  # the service imports torch, which input errors must not wait for
    from indexer.service import IndexService

#: Files that ``index`` treats as pictures; anything else in the folder is left alone.
PICTURE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"})
#: Files that ``index`` treats as clips, indexed by frames spread over them
#: (:mod:`indexer.embed.clips`); an animated ``.gif`` is found to be one when decoded.
CLIP_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv"})

#: Exit statuses of ``index`` (also listed in its ``--help`` and in README).
EXIT_ALL_INDEXED = 0
EXIT_SOME_FAILED = 1
EXIT_SOME_PENDING = 3


def is_chat_collection(name: str) -> bool:
    """Whether ``name`` is the collection of a Telegram chat: the bot names each one by its
    chat id, a whole number (negative for groups)."""
    return name.removeprefix("-").isdigit()


def refuse_chat_collection(collection: str) -> None:
    """Raises IndexerError for a chat's collection: files indexed there could never be shown
    to the chat's members, since the bot sends a group only pictures posted in Telegram."""
    if is_chat_collection(collection):
        raise IndexerError(
            f"collection {collection} is a Telegram chat's (a whole number); the bot can only "
            "send its members pictures posted in the chat: index files into a named collection"
        )


def file_source(path: Path) -> str:
    """The source string under which a local file is indexed."""
    return f"file:{path.resolve()}"


@dataclass
class FolderReport:
    """What happened to each picture file of the folder, by the path the user gave."""

    files: int = 0
    #: Of the files, the clips (videos, and GIFs found to be animated).
    clips: int = 0
    indexed: int = 0
    duplicates: int = 0
    known: int = 0
    #: Of the known files, those forgotten since they were indexed: they stay out.
    forgotten: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    pending: list[tuple[Path, str]] = field(default_factory=list)
    #: The collection, for the hint that lists its failed pictures.
    collection: str = ""

    @property
    def exit_status(self) -> int:
        """0 all indexed (or known), 1 some failed or skipped, 3 none failed but some pending."""
        if self.failed:
            return EXIT_SOME_FAILED
        return EXIT_SOME_PENDING if self.pending else EXIT_ALL_INDEXED

    def _forgotten_note(self) -> str:
        return f" ({self.forgotten} of them forgotten, kept out)" if self.forgotten else ""

    def print(self) -> None:
        clips = f" ({self.clips} clips)" if self.clips else ""
        print(
            f"{self.files} files{clips}: {self.indexed} indexed, {self.duplicates} duplicates, "
            f"{self.known} already known{self._forgotten_note()}, {len(self.failed)} failed, "
            f"{len(self.pending)} still pending"
        )
        for path, reason in self.failed:
            print(f"  failed: {path}: {reason}")
        for path, reason in self.pending:
            print(f"  pending (retried on the next run): {path}: {reason}")
        if self.failed:
            listing = shlex.join(["list", "--collection", self.collection, "--status", "failed"])
            print(f"  `{indexer_command()} {listing}` lists every failed picture")


def picture_files(directory: Path) -> Iterator[Path]:
    """Paths under ``directory`` named like pictures or clips, sorted, without descending into
    links.

    A folder named ``weird.jpg`` is a folder (descended into, never a picture). Whether each
    path is a readable regular file is checked by :func:`checked_picture`.
    """
    for root, folders, names in os.walk(directory, followlinks=False):
        folders.sort()
        for name in sorted(names):
            path = Path(root, name)
            if path.suffix.lower() in PICTURE_SUFFIXES | CLIP_SUFFIXES:
                yield path


def checked_picture(
    path: Path, root: Path, max_bytes: int, follow_outside: bool
) -> os.stat_result | str:
    """The file's ``stat`` when it may be read, else why not: a name that is no UTF-8 text
    (its source cannot be stored), a link leading outside ``root``, a dangling link, anything
    but a regular file, a file too large."""
    if not _is_utf8(str(path)):
        return "its name is not UTF-8 text; rename it to index it"
    if path.is_symlink():
        target = path.resolve()
        if not target.exists():  # whichever way it points, reading it cannot help
            return "a symbolic link to nothing (dangling)"
        if not follow_outside and not target.is_relative_to(root.resolve()):
            return "a symbolic link leading outside the folder (--follow-outside reads those)"
    try:
        return checked_file_stat(path, max_bytes)
    except SourceGoneError:
        return "a symbolic link to nothing (dangling)" if path.is_symlink() else "file vanished"
    except NotAPictureFileError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot read it: {exc.strerror}"


def _is_utf8(text: str) -> bool:
    """Whether a path as Python decoded it is text (bytes that are no UTF-8 become surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def index_directory(
    service: IndexService, directory: Path, collection: str, *, follow_outside: bool = False
) -> int:
    """Indexes every picture file under ``directory``, prints the summary, returns the
    exit status (:attr:`FolderReport.exit_status`).

    ``follow_outside`` also reads symbolic links whose target lies outside ``directory``.
    """
    report = await collect_folder(service, directory, collection, follow_outside)
    report.print()
    return report.exit_status


async def collect_folder(
    service: IndexService, directory: Path, collection: str, follow_outside: bool
) -> FolderReport:
    """Indexes every picture file under ``directory``; returns what happened to each."""
    refuse_chat_collection(collection)
    if not directory.is_dir():
        raise IndexerError(f"not a folder: {directory}")
    report = FolderReport(collection=collection)
    queued: dict[int, Path] = {}
    max_bytes = service.config.limits.max_image_bytes
    files = list(picture_files(directory))
    for path in tqdm(files, desc="queueing", unit="file", disable=None, leave=False):
        report.files += 1
        is_clip = path.suffix.lower() in CLIP_SUFFIXES
        report.clips += is_clip
        checked = checked_picture(path, directory, max_bytes, follow_outside)
        if isinstance(checked, str):
            report.failed.append((path, f"skipped: {checked}"))
            continue
        result = await service.add_image(
            collection,
            ImageFacts(
                source=file_source(path),
                posted_at=checked.st_mtime,
                kind="video" if is_clip else "photo",
            ),
        )
        if result.outcome == "queued" and result.image_id is not None:
            queued[result.image_id] = path
        elif result.outcome == "known" and (
            earlier := await _failed_earlier(service, path, collection)
        ):
            report.failed.append((path, f"failed earlier, not retried: {earlier}"))
        else:
            report.known += 1
            report.forgotten += result.outcome == "forgotten"
    await _wait_with_progress(service, collection, len(queued))
    records = await service.images(list(queued))
    originals = await service.images([r.repost_of for r in records.values() if r.repost_of])
    for image_id, record in sorted(records.items()):
        path = queued[image_id]
        report.clips += record.kind == "gif"
        original = originals.get(record.repost_of) if record.repost_of else None
        if record.status == "indexed":
            report.indexed += 1
        elif record.status == "repost" and (original is None or original.status != "failed"):
            report.duplicates += 1
        elif record.status in ("failed", "repost"):
            failed = record if original is None else original
            report.failed.append((path, failed.error or "unknown error"))
        else:
            report.pending.append((path, record.error or "not embedded yet"))
    return report


async def _failed_earlier(service: IndexService, path: Path, collection: str) -> str | None:
    """Why the picture of ``path`` failed when an earlier run indexed it, or None."""
    ids = await service.ids_of_source(collection, file_source(path))
    for record in (await service.images(ids)).values():
        if record.status == "failed":
            return record.error or "unknown error"
    return None


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
