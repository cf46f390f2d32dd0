"""Hostile pictures cost little and fail (or pass) alone; one that kills the process is given up.

A 228-byte PNG of 50000×1 pixels passes a pixel-count check, yet resizing it for the model
(shortest side to the model's input) would take gigabytes. These tests index such pictures
among good ones in a child process with a hard memory cap and measure its peak memory.
"""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from indexer.config import ModelConfig
from indexer.store.queue import EXTRA_CRASHES
from indexer.synthetic import ShapeSpec

REPO = Path(__file__).resolve().parent.parent
#: The child may not map more than this: an unbounded resize fails (or is refused) instead of
#: taking the machine's memory.
ADDRESS_SPACE_CAP = 6 * 1024**3
#: Peak resident memory the child may reach above a run with the good pictures only.
EXTRA_RSS_BOUND = 200 * 1024**2

HOSTILE_SIZES = [(50_000, 1), (1_500_000, 1), (1, 200_000), (60_000, 3)]


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def write_config(folder: Path, model: ModelConfig, max_attempts: int = 3) -> Path:
    config = folder / "config.toml"
    config.write_text(
        f'[model]\narch = "{model.arch}"\ncheckpoint = "{model.checkpoint}"\n'
        '[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n'
        f"[limits]\nmax_attempts = {max_attempts}\n"
    )
    return config


def index_in_child(config: Path, folder: Path) -> tuple[int, str, int]:
    """Runs ``python -m indexer index`` capped in memory: its exit code, output and peak RSS
    in bytes (its own, from wait4)."""
    log = config.parent / "index.log"
    with log.open("w") as out:
        # The cap is set by the new interpreter before it becomes the indexer (exec), not by a
        # preexec_fn: that runs in a fork of this test process, where another test's gRPC
        # threads (Milvus) may abort the fork before it reaches exec.
        capped = (
            "import os, resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE_CAP}, {ADDRESS_SPACE_CAP})); "
            "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
        )
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                capped,
                "-m",
                "indexer",
                "--config",
                str(config),
                "index",
                str(folder),
                "--collection",
                "c",
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, log.read_text(), usage.ru_maxrss * 1024  # KiB on Linux


def statuses(data_dir: Path) -> dict[str, tuple[str, str | None]]:
    with sqlite3.connect(data_dir / "index.sqlite3") as db:
        rows = db.execute("SELECT source, status, error FROM images").fetchall()
    return {Path(source.partition(":")[2]).name: (status, error) for source, status, error in rows}


@pytest.mark.skipif(sys.platform != "linux", reason="memory caps and ru_maxrss as on Linux")
def test_long_thin_pictures_cost_little_and_fail_or_pass_alone(
    tmp_path: Path, model_config: ModelConfig, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    good = tmp_path / "good"
    good.mkdir()
    for number, (data, _) in enumerate(held_out_pictures[:6]):
        (good / f"good_{number}.jpg").write_bytes(data)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for path in good.iterdir():
        (mixed / path.name).write_bytes(path.read_bytes())
    for width, height in HOSTILE_SIZES:
        data = png(width, height)
        assert len(data) < 2000
        (mixed / f"thin_{width}x{height}.png").write_bytes(data)

    baseline_run = tmp_path / "baseline"
    baseline_run.mkdir()
    _, _, baseline = index_in_child(write_config(baseline_run, model_config), good)
    hostile_run = tmp_path / "hostile"
    hostile_run.mkdir()
    code, output, peak = index_in_child(write_config(hostile_run, model_config), mixed)

    assert code in (0, 1), output[-2000:]
    found = statuses(hostile_run / "data")
    assert all(found[f"good_{n}.jpg"][0] == "indexed" for n in range(6)), found
    for width, height in HOSTILE_SIZES:
        status, error = found[f"thin_{width}x{height}.png"]
        assert status in ("indexed", "failed"), (width, height, status, error)
        assert error is None or "internal error" not in error
    assert "Traceback" not in output
    print(f"peak RSS: {peak / 2**20:.0f} MiB, good pictures only: {baseline / 2**20:.0f} MiB")
    assert peak - baseline < EXTRA_RSS_BOUND, (peak, baseline)


_DEADLY_WORKER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from indexer.config import IndexerConfig, read_toml
    from indexer.records import ImageFacts
    from indexer.service import IndexService

    async def main() -> None:
        path = Path(sys.argv[1])
        service = await IndexService.open(IndexerConfig.from_mapping(read_toml(path), path.parent))

        async def deadly(source: str) -> bytes:
            os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does to a bomb
            raise AssertionError("unreachable")

        service.register_fetcher("deadly", deadly)
        if sys.argv[2] == "add":
            await service.add_image("c", ImageFacts(source="deadly:bomb.png"))
            await service.add_image("c", ImageFacts(source="file:" + sys.argv[3]))
        await asyncio.wait_for(service.wait_idle(), 120)
        await service.close()

    asyncio.run(main())
    """
)


def test_a_picture_that_kills_the_process_is_given_up_after_its_own_crashes(
    tmp_path: Path, model_config: ModelConfig, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    config = write_config(tmp_path, model_config, max_attempts=2)
    good = tmp_path / "good.jpg"
    good.write_bytes(held_out_pictures[0][0])

    def run(mode: str) -> int:
        return subprocess.run(
            [sys.executable, "-c", _DEADLY_WORKER, str(config), mode, str(good)],
            cwd=REPO,
            capture_output=True,
            timeout=300,
        ).returncode

    exits = [run("add")] + [run("resume") for _ in range(2 + EXTRA_CRASHES)]

    found = statuses(tmp_path / "data")
    # Killed with the good picture in its batch; then tried alone, each kill charged to it
    # alone, until max_attempts + EXTRA_CRASHES ends; then skipped, and the good one indexed.
    assert exits == [-9] * (1 + EXTRA_CRASHES + 1) + [0], exits
    assert found["good.jpg"] == ("indexed", None)
    status, error = found["bomb.png"]
    assert status == "failed" and error is not None and "ended 4 times" in error
