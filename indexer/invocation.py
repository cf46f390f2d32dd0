"""How the user started this program, so the commands it suggests work when pasted as printed;
and how a command ends when the user stops it with Ctrl-C."""

from __future__ import annotations

import importlib
import os
import shlex
import sys
from pathlib import Path
from typing import NoReturn

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def run_command(module: str) -> NoReturn:
    """Imports ``module`` and exits with what its ``main()`` returns.

    The import happens here, so Ctrl-C at any moment, while importing (torch takes seconds),
    loading the model or running, ends the command quietly with :data:`INTERRUPTED` instead of
    a traceback. The entry points (``python -m``, the installed commands) start here.
    """
    try:
        status = importlib.import_module(module).main()
    except KeyboardInterrupt:
        status = INTERRUPTED
    sys.exit(status)


def command_name(module: str) -> str:
    """The command that started this program, for hints the user can paste.

    An entry point is named as it was typed (``clip-search``, ``.venv/bin/clip-search``);
    ``python -m <module>`` is named with this very interpreter, relative to the current folder
    when it lives below it (``.venv/bin/python -m indexer``), since a bare ``python`` may be
    another one without the project installed.
    """
    started = sys.argv[0] if sys.argv else ""
    if started and Path(started).name not in ("__main__.py", "-c", "-m"):
        return shlex.quote(started)
    python = sys.executable or "python3"
    relative = os.path.relpath(python)
    if not relative.startswith(".."):
        python = relative
    return f"{shlex.quote(python)} -m {module}"
