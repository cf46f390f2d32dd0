"""How the user started this program, so the commands it suggests work when pasted as printed;
and how a command ends when the user stops it: Ctrl-C, or a reader of its output that went
away (``| head -1``)."""

from __future__ import annotations

import importlib
import os
import shlex
import sys
from pathlib import Path
from typing import NoReturn

#: The exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130
#: The exit status of a command whose output reader went away (128 + SIGPIPE, as shells report
#: a tool that SIGPIPE ended; Python ignores that signal and raises BrokenPipeError instead).
BROKEN_PIPE = 141


def run_command(module: str) -> NoReturn:
    """Imports ``module`` and exits with what its ``main()`` returns.

    The import happens here, so Ctrl-C at any moment, while importing (torch takes seconds),
    loading the model or running, ends the command quietly with :data:`INTERRUPTED` instead of
    a traceback. The entry points (``python -m``, the installed commands) start here.
    Output piped into a reader that stopped early ends the command quietly with
    :data:`BROKEN_PIPE`, whether a write or the last flush finds the pipe closed.
    """
    try:
        status = importlib.import_module(module).main()
        sys.stdout.flush()
    except KeyboardInterrupt:
        status = INTERRUPTED
    except BrokenPipeError:
        # Python flushes stdout again as it exits: point it at nothing so that finds no pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = BROKEN_PIPE
    sys.exit(status)


#: The installed name of the indexer's command line (``[project.scripts]`` in pyproject.toml).
INDEXER_COMMAND = "clip-search"


def indexer_command() -> str:
    """The indexer's command line, for a hint the user can paste: as it was typed when this
    program is it (``clip-search --config FILE``, ``.venv/bin/python -m indexer``), else by
    its installed name (a hint the bot logs names ``clip-search``, not the bot's own command).
    A ``--config`` the user typed is kept: without it the hint would act on another folder."""
    started = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    by_module = started.name == "__main__.py" and started.parent.name == "indexer"
    if not (by_module or started.name == INDEXER_COMMAND):
        return INDEXER_COMMAND
    config = _typed_config(sys.argv[1:])
    command = command_name("indexer")
    return command if config is None else f"{command} --config {shlex.quote(config)}"


def _typed_config(arguments: list[str]) -> str | None:
    """The value of the last ``--config FILE`` or ``--config=FILE`` among ``arguments``."""
    found = None
    for number, argument in enumerate(arguments):
        if argument == "--config" and number + 1 < len(arguments):
            found = arguments[number + 1]
        elif argument.startswith("--config="):
            found = argument.removeprefix("--config=")
    return found


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
