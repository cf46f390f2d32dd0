"""``indexer index`` on folders holding more than pictures: FIFOs, devices, links, folders.

Each case is something an unlucky operator's folder really holds; none may hang, read without
a bound, leak a file from outside the folder, or be counted as indexed when it was not.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.cli.index_folder import EXIT_SOME_PENDING, index_directory
from indexer.config import ModelConfig
from indexer.errors import SourceGoneError
from indexer.records import ImageFacts
from indexer.service import Embedder, IndexService
from indexer.synthetic import ShapeSpec
from tests.conftest import make_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def odd_folder(
    tmp_path: Path, model_config: ModelConfig, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> Path:
    """A folder of two good pictures and every kind of file that is not one."""
    folder = tmp_path / "folder"
    (folder / "weird.jpg").mkdir(parents=True)
    (folder / "good.jpg").write_bytes(held_out_pictures[0][0])
    (folder / "weird.jpg" / "inside.jpg").write_bytes(held_out_pictures[1][0])
    os.mkfifo(folder / "fifo.jpg")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    (folder / "dangling.jpg").symlink_to(folder / "no-such-file.jpg")
    (folder / "gone.jpg").symlink_to("/no/such/picture.jpg")  # dangling, and outside
    (folder / "passwd.jpg").symlink_to("/etc/passwd")
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(held_out_pictures[2][0])
    (folder / "outside.jpg").symlink_to(outside)
    (folder / "inner-link.jpg").symlink_to(folder / "good.jpg")
    (tmp_path / "config.toml").write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        '[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n'
    )
    return folder


def run_cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in its own process: a FIFO that blocks fails the timeout, not the suite."""
    return subprocess.run(
        [sys.executable, "-m", "indexer", "index", str(folder), "--collection", "c", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        errors="replace",  # a file name that is no UTF-8 is printed as its bytes
        timeout=300,
        env={**os.environ, "CLIP_SEARCH_CONFIG": str(folder.parent / "config.toml")},
    )


def test_only_regular_files_inside_the_folder_are_read_each_skip_named_once(
    odd_folder: Path,
) -> None:
    done = run_cli(odd_folder)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "9 files: 2 indexed, 0 duplicates, 1 already known, 6 failed, 0 still pending" in out
    assert f"{odd_folder / 'fifo.jpg'}: skipped: not a regular file (a named pipe)" in out
    for name in ("dangling.jpg", "gone.jpg"):  # --follow-outside would not help gone.jpg
        assert f"{odd_folder / name}: skipped: a symbolic link to nothing" in out
    for name in ("passwd.jpg", "outside.jpg", "zero.jpg"):
        assert f"{odd_folder / name}: skipped: a symbolic link leading outside the folder" in out
    assert "/etc/passwd" not in out + done.stderr
    assert "Traceback" not in done.stderr
    for name in ("fifo.jpg", "zero.jpg", "dangling.jpg", "passwd.jpg"):
        assert (out + done.stderr).count(name) == 1, name


def test_follow_outside_reads_links_leading_out_but_never_devices(odd_folder: Path) -> None:
    done = run_cli(odd_folder, "--follow-outside")
    assert done.returncode == 1, done.stderr
    assert "3 indexed, 0 duplicates, 1 already known, 5 failed" in done.stdout
    assert f"{odd_folder / 'passwd.jpg'}: the file is not a picture" in done.stdout
    assert "zero.jpg: skipped: not a regular file (a character device)" in done.stdout


async def test_the_worker_checks_a_file_source_again_when_it_reads_it(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    """A source queued while it was a picture and swapped afterwards is refused, never read."""
    config = make_config(tmp_path / "data", model_config, limits={"max_image_bytes": 100_000})
    fifo, device, large = tmp_path / "fifo.jpg", tmp_path / "zero.jpg", tmp_path / "large.jpg"
    os.mkfifo(fifo)
    device.symlink_to("/dev/zero")
    large.write_bytes(held_out_pictures[0][0] + b"\0" * 200_000)
    async with await IndexService.open(config, embedder) as service:
        added = [
            await service.add_image("c", ImageFacts(source=f"file:{path}"))
            for path in (fifo, device, large)
        ]
        await asyncio.wait_for(service.wait_idle(), timeout=120)
        records = await service.images([result.image_id for result in added if result.image_id])
    errors = sorted(str(record.error) for record in records.values())
    assert [record.status for record in records.values()] == ["failed"] * 3
    assert errors == [
        "a symbolic link, not the picture itself",
        "not a regular file (a named pipe)",
        "too large (more than 100,000 bytes, limits.max_image_bytes)",
    ]


async def test_a_passing_failure_is_counted_pending_not_indexed(
    tmp_path: Path,
    service: IndexService,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(held_out_pictures[0][0])
    (folder / "b.jpg").write_bytes(held_out_pictures[1][0])

    async def flaky_disk(source: str) -> bytes:
        if source.endswith("b.jpg"):
            raise OSError("I/O error on the network share")
        path = Path(source.partition(":")[2])
        if not path.exists():
            raise SourceGoneError(f"file not found: {path}")
        return path.read_bytes()

    service.register_fetcher("file", flaky_disk)
    assert await index_directory(service, folder, "c") == EXIT_SOME_PENDING
    out = capsys.readouterr().out
    assert "2 files: 1 indexed, 0 duplicates, 0 already known, 0 failed, 1 still pending" in out
    assert f"pending (retried on the next run): {folder / 'b.jpg'}: could not fetch" in out


def test_a_file_name_that_is_not_utf8_is_skipped_with_its_reason_not_a_traceback(
    tmp_path: Path, model_config: ModelConfig, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    """A name's bytes that are no UTF-8 cannot be stored as text: the file is skipped with a
    reason (rename it), and the other files of the folder are indexed."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    (folder / "good.jpg").write_bytes(held_out_pictures[0][0])
    bad = os.path.join(os.fsencode(folder), b"bad\xff\xfename.jpg")
    with open(bad, "wb") as handle:
        handle.write(held_out_pictures[1][0])
    (tmp_path / "config.toml").write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        '[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n'
    )

    done = run_cli(folder)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "2 files: 1 indexed, 0 duplicates, 0 already known, 1 failed" in done.stdout
    assert "skipped: its name is not UTF-8 text; rename it to index it" in done.stdout
