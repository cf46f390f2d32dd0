"""The bot's small memory between runs (group titles, each person's search choice), in one
pickle file of the data folder, and what happens when that file was cut short.

python-telegram-bot's ``PicklePersistence`` rewrites the file in place, so a kill in the middle
of a write leaves it empty or half-written, and ``Application.initialize`` would then fail at
every start. Before the bot starts, :func:`set_aside_if_unreadable` reads the file once; one
that cannot be read is renamed beside itself (kept for a look, never deleted) with one log
line, and the bot starts with a fresh memory. Nothing of the pictures is in it: SQLite holds
those, and titles come back as the groups are seen again.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from pathlib import Path

log = logging.getLogger(__name__)


class _Probe(pickle.Unpickler):
    """Reads a persistence file as PTB would, without a bot: PTB pickles its ``Bot`` as a
    persistent id, which stands in as None here."""

    def persistent_load(self, pid: object) -> None:
        return None


def set_aside_if_unreadable(path: Path) -> Path | None:
    """Renames ``path`` to ``<name>.unreadable-<time>`` if it cannot be unpickled; returns the
    new name, or None when the file is missing or readable."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        if not path.is_file():  # a FIFO would block the read, a folder cannot be one
            raise pickle.UnpicklingError("not a regular file")
        with path.open("rb") as handle:
            data = _Probe(handle).load()
        if not isinstance(data, dict):
            raise pickle.UnpicklingError(f"holds a {type(data).__name__}, not a dict")
    except Exception as exc:
        aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        os.replace(path, aside)
        log.warning(
            "%s could not be read (%s: %s), probably cut short by a crash; set aside as %s. "
            "The bot starts afresh: group titles come back as groups are seen, and people may "
            "need /groups again",
            path,
            type(exc).__name__,
            exc,
            aside.name,
        )
        return aside
    return None
