"""A process that ends while the model thread is inside torch exits with its own status.

The model runs in a daemon thread (indexer/embed/model_thread.py). When the interpreter ends
while that thread is in a torch call, the thread is stopped in the middle of C++ code as it
takes the GIL back, and the process dies with SIGABRT ("terminate called without an active
exception") instead of the status it chose. A bot restarted after a kill -9 embeds the pictures
the killed one left queued right away, so a start-up failure then (anything that ends the bot
before it polls) met a busy model thread. Each test stops a process at a known step, with a
model call provably running, and checks the exit status and output.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

pytest_plugins = ["bot_fixtures"]

REPO = Path(__file__).resolve().parent.parent
#: How long the model call running at exit takes: far longer than the interpreter takes to end.
BUSY_SECONDS = 2.0
#: A cap, not a wait: importing torch on a loaded machine.
CAP_SECONDS = 300.0

#: A model call that says when it runs, then keeps torch busy for ``BUSY_SECONDS``.
_BUSY_CALL = f"""
import threading, time
import torch

started = threading.Event()

def busy_model_call():
    started.set()
    layer = torch.nn.Conv2d(8, 8, 3, padding=1)
    pixels = torch.randn(4, 8, 64, 64)
    until = time.monotonic() + {BUSY_SECONDS}
    with torch.no_grad():
        while time.monotonic() < until:
            layer(pixels)
"""


async def _run(code: str, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-X",
        "faulthandler",
        "-c",
        textwrap.dedent(_BUSY_CALL) + textwrap.dedent(code),
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), CAP_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def _crashed(output: str) -> bool:
    return "Fatal Python error" in output or "terminate called" in output


async def test_a_process_ending_during_a_model_call_exits_with_its_own_status() -> None:
    """The model thread's own guarantee, whoever forgot to close it: the interpreter waits for
    the call in progress (calls still queued are dropped) before it ends."""
    status, output = await _run(
        """
        import sys
        from indexer.embed.model_thread import BULK, ModelThread

        model = ModelThread()
        model.submit(BULK, busy_model_call)
        never_run = model.submit(BULK, print, "a queued call ran at exit")
        started.wait()
        sys.exit(3)
        """
    )

    assert status == 3 and not _crashed(output), output
    assert "a queued call ran at exit" not in output


async def test_a_start_up_failure_after_the_service_opened_is_one_line_and_status_1(
    bot_config_file: Path,
) -> None:
    """``python -m bot`` failing after the service is open (building the bot, here) while the
    model thread is busy: it closes the service, the status is 1 with one error line."""
    status, output = await _run(
        """
        import os, sys
        import bot.app
        from indexer.embed.model_thread import QUERY
        from indexer.errors import StorageError

        def failing_build(config, service):
            # The step the test stops at: the service is open and the model is busy.
            service.engine.pipeline._model_thread.submit(QUERY, busy_model_call)
            started.wait()
            raise StorageError("the bot could not be built (a failure the test injects)")

        bot.app.build_application = failing_build
        os.environ["TELEGRAM_BOT_TOKEN"] = "123:test-token"
        sys.argv = ["clip-search-bot", "--config", sys.argv[1]]
        from bot import run

        run()
        """,
        str(bot_config_file),
    )

    assert status == 1 and not _crashed(output), output
    errors = [line for line in output.splitlines() if line.startswith("clip-search-bot:")]
    assert errors == ["clip-search-bot: the bot could not be built (a failure the test injects)"], (
        output
    )
    assert "Traceback" not in output, output
