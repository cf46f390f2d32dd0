"""``python -m bot`` as a real process against FakeTelegram: start, kill -9, stop, read its output.

For the tests that need what only a process has: being killed at any instant, exiting with a
status, file-size limits set by the operating system, and every line it prints.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from bot.chats import collection_of
from bot.config import load_config
from bot.playground.fake_telegram import CallRecord, FakeTelegram
from indexer.config import ModelConfig

REPO = Path(__file__).resolve().parent.parent
#: A cap, not a wait: how long a bot may take to come up (importing torch, loading the model)
#: on a loaded machine. A wait on a bot's start follows the process: it ends as soon as the bot
#: does what is awaited, and fails at once, with the bot's output, if the bot exits first.
START_CAP_SECONDS = 600.0


def write_bot_config(
    path: Path, fake: FakeTelegram, model: ModelConfig, checkpoint: Path, extra: str = ""
) -> Path:
    """A config file for the bot talking to ``fake`` with the tiny model; ``extra`` is appended
    to its ``[telegram]`` section."""
    path.write_text(
        f'[model]\narch = "{model.arch}"\npretrained = ""\ncheckpoint = "{checkpoint}"\n'
        '[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n'
        f'[telegram]\nbase_url = "{fake.base_url}"\nbase_file_url = "{fake.base_file_url}"\n'
        f"poll_timeout_seconds = 1\n{extra}",
        encoding="utf-8",
    )
    return path


def _ignore_file_size_signal() -> None:
    """Over a file-size limit, a write then fails with an error (as on a full disk) instead of
    the default SIGXFSZ killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class BotProcess:
    """One run of ``python -m bot`` with ``config``; every line it prints is kept in ``lines``."""

    def __init__(self, config: Path, token: str) -> None:
        self.config = config
        self.token = token
        self.lines: list[str] = []
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=REPO,
            env={
                **os.environ,
                "CLIP_SEARCH_CONFIG": str(self.config),
                "TELEGRAM_BOT_TOKEN": self.token,
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            preexec_fn=_ignore_file_size_signal,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self._process.stdout)),
            asyncio.create_task(self._read(self._process.stderr)),
        ]

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for line in stream:
            self.lines.append(line.decode(errors="replace"))

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def limit_file_size(self, size: int | None) -> None:
        """Lets the process write no file beyond ``size`` bytes (None: no limit), like a disk
        that is full (or has room again)."""
        limit = resource.RLIM_INFINITY if size is None else size
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    async def until_called(
        self,
        fake: FakeTelegram,
        method: str,
        predicate: Callable[[CallRecord], bool] | None = None,
    ) -> CallRecord:
        """The bot's first call of ``method`` (matching ``predicate``) to ``fake``, however long
        the bot takes to start (up to :data:`START_CAP_SECONDS`); AssertionError with its
        output if it exits first."""
        assert self._process is not None
        called = asyncio.ensure_future(fake.wait_for(method, predicate, START_CAP_SECONDS))
        ended = asyncio.ensure_future(self._process.wait())
        await asyncio.wait({called, ended}, return_when=asyncio.FIRST_COMPLETED)
        if called.done():
            ended.cancel()
            return called.result()
        called.cancel()
        await asyncio.gather(*self._readers)
        raise AssertionError(
            f"the bot exited ({ended.result()}) before calling {method}:\n{self.output[-4000:]}"
        )

    async def wait(self, timeout: float = START_CAP_SECONDS) -> int:
        """Waits for the process to end; its exit status (negative: killed by that signal)."""
        assert self._process is not None
        status = await asyncio.wait_for(self._process.wait(), timeout)
        await asyncio.gather(*self._readers)
        return status

    async def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        assert self._process is not None
        self._process.kill()
        await self.wait()

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit status."""
        assert self._process is not None
        if self._process.returncode is None:
            self._process.send_signal(signal.SIGTERM)
        return await self.wait(timeout)

    async def ensure_ended(self) -> None:
        """For ``finally``: kills the process if a failing test left it running."""
        if self._process is not None and self._process.returncode is None:
            await self.kill()


async def run_to_the_end(config: Path, token: str, timeout: float) -> tuple[int, BotProcess]:
    """Runs ``python -m bot`` until it exits by itself: its status, and the process's output."""
    bot = BotProcess(config, token)
    try:
        await bot.start()
        status = await bot.wait(timeout)
    finally:
        await bot.ensure_ended()
    return status, bot


async def count_rows(config: Path, token: str, chat_id: int) -> tuple[int, int]:
    """(picture rows, distinct posts among them) the bot stored for the group ``chat_id``.

    Read straight from the SQLite file, as a second reader, so it works while the bot runs.
    """
    import aiosqlite

    settings = load_config(config, environ={"TELEGRAM_BOT_TOKEN": token})
    database = settings.indexer.storage.data_dir / "index.sqlite3"
    if not database.exists():
        return 0, 0
    async with aiosqlite.connect(f"file:{database}?mode=ro", uri=True) as db:
        cursor = await db.execute(
            "SELECT count(*), count(DISTINCT message_id) FROM images JOIN collections "
            "ON collections.id = images.collection_id WHERE collections.name = ? "
            "AND images.deleted = 0",
            (collection_of(chat_id),),
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
