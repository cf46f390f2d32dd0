"""Reading local picture files safely: regular files only, never more than a size cap.

A folder handed to ``python -m indexer index`` may hold anything: a FIFO named ``x.jpg`` (an
ordinary ``open`` blocks forever), a symlink to ``/dev/zero`` (an unbounded read fills the
memory), a dangling link, a folder named ``weird.jpg``. The folder scan and the worker, which
reads the same ``file:`` sources later (in this process or the bot's worker), both go through
:func:`read_picture_file`, so a file swapped after it was queued is checked again.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from indexer.errors import BadImageError, SourceGoneError


class NotAPictureFileError(BadImageError):
    """Not a regular file of an acceptable size (a FIFO, a device, a folder...).

    The message says why without the path: callers show the path their own way.
    """


def checked_file_stat(path: Path, max_bytes: int) -> os.stat_result:
    """``stat`` of ``path`` (links followed) if it is a regular file of at most ``max_bytes``.

    Raises :class:`SourceGoneError` when nothing is there (a dangling link) and
    :class:`NotAPictureFileError` for anything but a regular file, or one too large.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SourceGoneError(f"file not found: {path}") from None
    _checked(info, max_bytes)
    return info


def read_picture_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them.

    The path is opened without following a final symlink and without blocking (a FIFO), and
    the opened file is checked again (``fstat``) against what ``lstat`` saw, so a file swapped
    for a link, a FIFO or a device between the two is refused, not read.
    """
    try:
        before = path.lstat()
        _checked(before, max_bytes)
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SourceGoneError(f"file not found: {path}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the path became a symlink after lstat
            raise NotAPictureFileError("a symbolic link, not the picture itself") from None
        raise  # e.g. permissions: worth another try once the operator fixed them
    with os.fdopen(descriptor, "rb") as handle:
        after = os.fstat(descriptor)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise NotAPictureFileError("replaced by another file while being opened")
        _checked(after, max_bytes)
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise NotAPictureFileError(_too_large(max_bytes))
    return data


def _checked(info: os.stat_result, max_bytes: int) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise NotAPictureFileError("a symbolic link, not the picture itself")
    if not stat.S_ISREG(info.st_mode):
        raise NotAPictureFileError(f"not a regular file ({_kind(info.st_mode)})")
    if info.st_size > max_bytes:
        raise NotAPictureFileError(_too_large(max_bytes))


def _too_large(max_bytes: int) -> str:
    return f"too large (more than {max_bytes:,} bytes, limits.max_image_bytes)"


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a named pipe",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a file")
