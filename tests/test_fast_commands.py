"""Commands that need no model start at once: ``stats``, ``list``, ``check``, ``backup`` and
``forget`` import no torch (nor open_clip, transformers) and load no model (issue 16, issue 21
item 2), and the bot names a wrong config key before it imports torch (issue 22 item 11).

Each command runs in a fresh process, as a user runs it, which then says which of the heavy
modules it imported; what it prints must be what the service prints.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.cli.index_folder import index_directory
from indexer.cli.output import listing_json, print_listing, print_stats
from indexer.config import ModelConfig, load_indexer_config
from indexer.records import ImageFacts, PictureFilter
from indexer.service import Embedder, IndexService
from indexer.synthetic import ShapeSpec

REPO = Path(__file__).resolve().parent.parent
#: Modules that take seconds to import; none of them is needed to read the store.
HEAVY = ("torch", "open_clip", "transformers")
#: Runs ``indexer.cli.main(argv)``, then says which heavy modules the process imported.
SCRIPT = f"""\
import json, sys
from indexer.cli import main
status = main(sys.argv[1:])
sys.stdout.flush()
print("HEAVY " + json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
sys.exit(status)
"""


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CLIP_SEARCH_CONFIG", None)
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return env


def run_fresh(config: Path, *args: str) -> tuple[int, str, str, list[str]]:
    """(status, stdout without the last line, stderr, heavy modules imported) of a command
    run in a new process."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "--config", str(config), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    *printed, last = done.stdout.splitlines(keepends=True)
    assert last.startswith("HEAVY "), done.stdout + done.stderr
    return done.returncode, "".join(printed), done.stderr, json.loads(last.removeprefix("HEAVY "))


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> Path:
    """A config and a data folder holding a few pictures indexed with the tiny model: files,
    one that failed, one posted from Telegram with a caption, and a tag."""
    root = tmp_path_factory.mktemp("fast")
    pictures = root / "pictures"
    pictures.mkdir()
    for number, (data, spec) in enumerate(held_out_pictures[:12]):
        (pictures / f"{spec.slug}_{number:03d}.jpg").write_bytes(data)
    (pictures / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "config.toml").write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        '[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n'
    )

    async def fill() -> None:
        config = load_indexer_config(root / "config.toml")
        async with await IndexService.open(config, embedder) as service:
            await index_directory(service, pictures, "c")
            facts = ImageFacts(
                source="telegram:AgADBAAD",
                poster_id=42,
                poster_name="Ann",
                posted_at=1_700_000_000,
                message_id=7,
                caption="at the beach",
            )
            await service.add_image("c", facts, data=held_out_pictures[20][0])
            await service.add_image("d", facts, data=held_out_pictures[21][0])
            await service.wait_idle()
            await service.tag("c", [1], "Big Sun")

    asyncio.run(fill())
    return root


def printed_by_the_service(
    workspace: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str]
) -> dict[str, str]:
    """What ``stats`` and ``list`` print when the service (and the model) answer."""

    async def ask() -> dict[str, str]:
        config = load_indexer_config(workspace / "config.toml")
        printed = {}
        async with await IndexService.open(config, embedder) as service:
            capsys.readouterr()
            for name in await service.collections():
                print_stats(await service.stats(name), config.ocr.enabled)
            printed["stats"] = capsys.readouterr().out
            print_stats(await service.stats("c"), config.ocr.enabled)
            printed["stats --collection c"] = capsys.readouterr().out
            print_listing(await service.list_pictures("c", PictureFilter()))
            printed["list --collection c"] = capsys.readouterr().out
            ann = await service.list_pictures("c", PictureFilter(poster="ann"))
            print(json.dumps([listing_json(p) for p in ann], ensure_ascii=False, indent=2))
            printed["list --collection c --poster ann --json"] = capsys.readouterr().out
        return printed

    return asyncio.run(ask())


@pytest.mark.parametrize(
    "args",
    [
        ["stats"],
        ["stats", "--collection", "c"],
        ["list", "--collection", "c"],
        ["list", "--collection", "c", "--poster", "ann", "--json"],
    ],
    ids=" ".join,
)
def test_stats_and_list_import_no_torch_and_print_what_the_service_prints(
    workspace: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    expected = printed_by_the_service(workspace, embedder, capsys)[" ".join(args)]
    assert "collection c" in expected or "c message 7" in expected or "at the beach" in expected
    status, out, err, heavy = run_fresh(workspace / "config.toml", *args)
    assert (status, err, heavy) == (0, "", [])
    assert out == expected


@pytest.mark.parametrize("args", [["check"], ["backup", "{dest}"]], ids=lambda args: args[0])
def test_check_and_backup_import_no_torch(workspace: Path, tmp_path: Path, args: list[str]) -> None:
    dest = tmp_path / "backup.sqlite3"
    status, out, _, heavy = run_fresh(
        workspace / "config.toml", *(arg.format(dest=dest) for arg in args)
    )
    assert (status, heavy) == (0, [])
    assert "no findings" in out or f"backed up to {dest}" in out


def test_an_unknown_collection_is_one_error_line_without_torch(workspace: Path) -> None:
    for command in ("stats", "list", "forget"):
        args = [command, "--collection", "nope"] + (["--id", "1"] if command == "forget" else [])
        status, out, err, heavy = run_fresh(workspace / "config.toml", *args)
        assert (status, out, heavy) == (2, "", [])
        assert err.startswith("error: unknown collection 'nope'") and err.count("\n") == 1


def test_forget_imports_no_torch_and_leaves_the_indexes_in_agreement(
    workspace: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns("pictures"))
    config = copy / "config.toml"
    victim = next((workspace / "pictures").glob("*_000.jpg"))
    status, out, err, heavy = run_fresh(
        config, "forget", "--collection", "c", "--path", str(victim)
    )
    assert (status, out, err, heavy) == (0, "forgot 1 picture(s)\n", "", [])
    status, out, err, heavy = run_fresh(config, "forget", "--collection", "c", "--id", "99999")
    assert (status, out, heavy) == (2, "", [])
    assert err == "error: no such picture in collection 'c': id 99999\n"
    # The FAISS files were saved without the picture: check finds them in agreement.
    status, out, _, _ = run_fresh(config, "check")
    assert status == 0 and out.endswith("no findings\n"), out
    status, out, _, _ = run_fresh(config, "stats", "--collection", "c")
    assert "pictures 12 (+0 reposts), pending 0, failed 1, forgotten 1" in out
    assert "index Flat, 12 vectors" in out


def test_the_bot_names_a_wrong_config_key_before_importing_torch(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[telegram]\ntoken = "123456:abcdefgh"\n[search]\nbogus_key = 1\n')
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    imported = [
        line.rpartition("|")[2].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    ]
    said = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert done.returncode == 2
    assert said == [
        "clip-search-bot: invalid configuration: search.bogus_key: Extra inputs are not permitted"
    ]
    assert "telegram" in imported or "pydantic" in imported  # the import log is there
    assert not set(HEAVY) & set(imported)
