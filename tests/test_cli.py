"""The indexer's command line, as a user runs it."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.cli import build_parser, main
from indexer.config import ModelConfig, load_indexer_config
from indexer.invocation import command_name
from indexer.records import ImageFacts
from indexer.service import Embedder, IndexService
from indexer.synthetic import ShapeSpec

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def workspace(
    tmp_path: Path, model_config: ModelConfig, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> Path:
    pictures = tmp_path / "pictures" / "nested"
    pictures.mkdir(parents=True)
    for number, (data, spec) in enumerate(held_out_pictures[:90]):
        (pictures / f"{spec.slug}_{number:03d}.jpg").write_bytes(data)
    (pictures / "notes.txt").write_text("not a picture, and not named like one")
    (pictures / "broken.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "config.toml").write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        '[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n'
    )
    return tmp_path


def run(workspace: Path, *args: str) -> int:
    return main(["--config", str(workspace / "config.toml"), *args])


def test_index_reports_counts_and_names_the_failures(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(workspace, "index", str(workspace / "pictures"), "--collection", "c") == 1
    out = capsys.readouterr().out
    assert "91 files: 90 indexed, 0 duplicates, 0 already known, 1 failed" in out
    assert "broken.jpg: the file is not a picture" in out
    # Again: earlier failures do not vanish; they are named, counted and not retried.
    assert run(workspace, "index", str(workspace / "pictures"), "--collection", "c") == 1
    out = capsys.readouterr().out
    assert "91 files: 0 indexed, 0 duplicates, 90 already known, 1 failed" in out
    assert "broken.jpg: failed earlier, not retried: the file is not a picture" in out
    assert "list --collection c --status failed` lists every failed picture" in out


def test_a_file_with_the_same_bytes_as_a_failed_one_failed_too_not_a_duplicate(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace / "pictures" / "broken copy.jpg").write_bytes(b"not a jpeg at all")

    assert run(workspace, "index", str(workspace / "pictures"), "--collection", "c") == 1

    out = capsys.readouterr().out
    assert "92 files: 90 indexed, 0 duplicates, 0 already known, 2 failed" in out
    assert "broken copy.jpg: the file is not a picture" in out


def test_search_by_text_and_by_image(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(workspace, "index", str(workspace / "pictures"), "--collection", "c")
    capsys.readouterr()
    assert run(workspace, "search", "a purple star", "--collection", "c", "-k", "3") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and sum("purple_star" in line for line in lines) >= 2
    example = next((workspace / "pictures" / "nested").glob("green_cross_*.jpg"))
    assert run(workspace, "search", "--image", str(example), "--collection", "c", "-k", "1") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert "green_cross" in line and example.name not in line


def test_stats_forget_and_reindex(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(workspace, "index", str(workspace / "pictures"), "--collection", "c")
    victim = next((workspace / "pictures" / "nested").glob("red_circle_*.jpg"))
    capsys.readouterr()
    assert run(workspace, "forget", "--collection", "c", "--path", str(victim)) == 0
    assert "forgot 1 picture(s)" in capsys.readouterr().out
    assert run(workspace, "reindex", "--collection", "c") == 0
    assert "reindexed 89 of 89 pictures" in capsys.readouterr().out
    assert run(workspace, "stats", "--collection", "c") == 0
    out = capsys.readouterr().out
    assert "pictures 89 (+0 reposts), pending 0, failed 1, forgotten 1" in out
    assert "index Flat, 89 vectors" in out
    # Reading is off in these tests: its pictures are not read, not "waiting" for ever.
    assert "89 not read (ocr.enabled is false)" in out and "waiting" not in out
    # A deletion wins: indexing the folder again (a nightly job) does not bring it back.
    assert run(workspace, "index", str(workspace / "pictures"), "--collection", "c") == 1
    known = "0 indexed, 0 duplicates, 90 already known (1 of them forgotten, kept out), 1 failed"
    assert known in capsys.readouterr().out
    assert run(workspace, "stats", "--collection", "c") == 0
    assert "pictures 89 (+0 reposts), pending 0, failed 1, forgotten 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "a red circle", "--collection", "nope"], "unknown collection 'nope'"),
        (["search", "", "--collection", "c"], "the query is empty"),
        (["index", "/no/such/folder", "--collection", "c"], "not a folder"),
        (["search", "--image", "/no/such.jpg", "--collection", "c"], "/no/such.jpg: no such"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    workspace: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    run(workspace, "index", str(workspace / "pictures"), "--collection", "c")
    capsys.readouterr()
    assert run(workspace, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_demo_runs_offline_and_leaves_a_working_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    found = [
        int(line.split(":")[1].split()[0]) for line in out.splitlines() if "of the top" in line
    ]
    assert len(found) == 4 and sum(found) >= 16, out
    config = tmp_path / "demo" / "config.toml"
    assert f"--config {config}" in out
    assert main(["--config", str(config), "search", "a purple star", "--collection", "demo"]) == 0
    assert "purple_star" in capsys.readouterr().out


def test_pretrained_weights_without_network_name_the_offline_setting(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[model]\narch = "RN50"\npretrained = "openai"\n')
    result = subprocess.run(
        [sys.executable, "-m", "indexer", "--config", str(config), "stats"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(REPO),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
        },
    )
    assert result.returncode == 2
    assert "could not load model 'RN50'" in result.stderr
    assert "Hugging Face cache (HF_HUB_OFFLINE)" in result.stderr
    assert "model export` and model.path" in result.stderr


def test_search_by_image_says_the_query_picture_is_left_out_and_include_self_keeps_it(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(workspace, "index", str(workspace / "pictures"), "--collection", "c")
    example = next((workspace / "pictures" / "nested").glob("green_cross_*.jpg"))
    capsys.readouterr()
    assert run(workspace, "search", "--image", str(example), "--collection", "c", "-k", "2") == 0
    out, err = capsys.readouterr()
    assert example.name not in out
    assert "the query picture itself is left out (--include-self keeps it)" in err
    args = ["search", "--image", str(example), "--collection", "c", "-k", "2", "--include-self"]
    assert run(workspace, *args) == 0
    out, err = capsys.readouterr()
    assert example.name in out.splitlines()[0] and "left out" not in err
    # A picture from elsewhere: nothing is left out, so nothing says so; k results all the same.
    stranger = workspace / "stranger.jpg"
    stranger.write_bytes(example.read_bytes() + b"\0")  # same picture, other bytes
    assert run(workspace, "search", "--image", str(stranger), "--collection", "c", "-k", "2") == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2 and example.name in out.splitlines()[0]
    assert "left out" not in err


def test_text_search_prints_rank_order_and_marks_tag_hits_with_their_text(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(workspace, "index", str(workspace / "pictures"), "--collection", "c")
    tagged = next((workspace / "pictures" / "nested").glob("red_circle_*.jpg"))
    assert run(workspace, "tag", "Big Sun", "--collection", "c", "--path", str(tagged)) == 0
    capsys.readouterr()
    assert run(workspace, "search", "big sun", "--collection", "c", "-k", "4") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(".")[0].strip() for line in lines] == ["1", "2", "3", "4"]
    assert lines[0].startswith(" 1. 🏷 ") and "'Big Sun'" in lines[0] and tagged.name in lines[0]
    assert all(" picture 0." in line for line in lines[1:]), lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--collection", "c"], "search needs a TEXT, --image PATH or a filter"),
        (["search", "x", "--collection", "c", "--since", "soon"], "--since: not a date like"),
        (["search", "x", "--collection", "c", "--kind", "hologram"], "--kind: invalid choice"),
        (["search", "x", "--collection", "c", "-k", "0"], "-k: must be at least 1, not 0"),
        (["search", "x", "--collection", "c", "-k", "-3"], "-k: must be at least 1, not -3"),
        (["search", "x", "--collection", "c", "--include-self"], "--include-self needs --image"),
        (["list", "--collection", "c", "--limit", "0"], "--limit: must be at least 1"),
        (["index", "pics", "--collection", ""], "--collection: a collection needs a name"),
        (["search", "x", "--collection", "  "], "--collection: a collection needs a name"),
    ],
)
def test_usage_errors_say_what_is_missing_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ") and message in err


def test_forget_and_tag_name_the_targets_they_could_not_find(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(workspace, "index", str(workspace / "pictures"), "--collection", "c")
    capsys.readouterr()
    assert run(workspace, "forget", "--collection", "c", "--id", "99999") == 2
    out, err = capsys.readouterr()
    assert out == ""  # no success line above an error that nothing was done
    assert err == "error: no such picture in collection 'c': id 99999\n"
    missing = workspace / "pictures" / "never-indexed.jpg"
    assert run(workspace, "tag", "x", "--collection", "c", "--path", str(missing)) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"no indexed picture to tag in collection 'c': {missing}" in err
    assert run(workspace, "tag", "x", "--collection", "c", "--id", "1", "424242") == 2
    out, err = capsys.readouterr()
    assert "tagged 1 picture(s)" in out and err.endswith("collection 'c': id 424242\n")


def test_config_is_accepted_after_the_command_too(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(workspace / "config.toml")
    assert main(["index", str(workspace / "pictures"), "--collection", "c", "--config", config])
    capsys.readouterr()
    assert main(["stats", "--config", config]) == 0
    assert "collection c" in capsys.readouterr().out
    assert (workspace / "data").is_dir()


def test_every_command_has_a_summary_examples_and_help_on_every_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        main(["--help"])
    top = " ".join(capsys.readouterr().out.split())
    assert "examples:" in top and "Exit status: 0 done, 1 some pictures" in top
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        summary = next(c.help for c in commands._choices_actions if c.dest == name)
        assert summary and summary in top, name
        assert f"examples:\n  {command_name('indexer')} {name}" in command.epilog, name
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_list_shows_source_poster_caption_tags_and_status_and_filters(
    workspace: Path, capsys: pytest.CaptureFixture[str], embedder: Embedder
) -> None:
    run(workspace, "index", str(workspace / "pictures"), "--collection", "c")
    posted = next((workspace / "pictures" / "nested").glob("blue_star_*.jpg"))

    async def post_from_telegram() -> None:
        config = load_indexer_config(workspace / "config.toml")
        async with await IndexService.open(config, embedder) as service:
            facts = ImageFacts(
                source="telegram:AgADBAAD",
                poster_id=42,
                poster_name="Ann",
                posted_at=1_700_000_000,
                message_id=7,
                caption="at the beach",
            )
            await service.add_image("c", facts, data=posted.read_bytes() + b"\0")
            await service.wait_idle()

    asyncio.run(post_from_telegram())
    run(workspace, "tag", "Big Sun", "--collection", "c", "--path", str(posted))
    capsys.readouterr()
    assert run(workspace, "list", "--collection", "c", "--status", "failed") == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "failed (the file is not a picture" in out[0]
    assert out[0].endswith("broken.jpg") or "broken.jpg" in out[0]
    assert run(workspace, "list", "--collection", "c", "--poster", "ann") == 0
    out = capsys.readouterr().out
    assert "indexed  chat c message 7" in out and "by Ann (42)" in out
    assert "caption 'at the beach'" in out
    assert run(workspace, "list", "--collection", "c", "--contains", "big sun", "--json") == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["where"] == str(posted.resolve()) and listed["tags"] == ["Big Sun"]
    assert listed["status"] == "indexed"
    assert run(workspace, "list", "--collection", "c", "--limit", "3") == 0
    assert len(capsys.readouterr().out.splitlines()) == 6


def run_subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "indexer", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_quiet_by_default_verbose_shows_loading_and_query_timing_each_failure_once(
    workspace: Path,
) -> None:
    config = str(workspace / "config.toml")
    indexed = run_subprocess(
        "index", str(workspace / "pictures"), "--collection", "c", "--config", config
    )
    assert indexed.returncode == 1
    both = indexed.stdout + indexed.stderr
    assert both.count("broken.jpg") == 1 and "loading CLIP model" not in both
    quiet = run_subprocess("--config", config, "search", "a red circle", "--collection", "c")
    assert quiet.returncode == 0 and quiet.stderr == ""
    loud = run_subprocess("--config", config, "search", "a red circle", "--collection", "c", "-v")
    assert "loading CLIP model" in loud.stderr
    assert "ms embedding the text" in loud.stderr and "ms captions and tags" in loud.stderr


def test_the_demo_model_says_once_that_it_knows_only_shapes(
    workspace: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(workspace, "index", str(workspace / "pictures"), "--collection", "c")
    assert capsys.readouterr().err.count("knows only coloured shapes") == 1  # notes.txt, broken
    assert run(workspace, "search", "a cat on a sofa", "--collection", "c") == 0
    assert capsys.readouterr().err.count("knows only coloured shapes") == 1
    assert run(workspace, "search", "一个红色的圆形", "--collection", "c") == 0
    assert "knows only" not in capsys.readouterr().err
    shapes = tmp_path / "shapes"
    shapes.mkdir()
    for picture in list((workspace / "pictures" / "nested").glob("red_circle_*.jpg"))[:2]:
        (shapes / picture.name).write_bytes(picture.read_bytes())
    assert run(workspace, "index", str(shapes), "--collection", "d") == 0
    assert "knows only" not in capsys.readouterr().err


def test_log_lines_go_above_the_progress_bar_not_into_it() -> None:
    script = (
        "import logging, sys\n"
        "from tqdm import tqdm\n"
        "from indexer.cli import quiet_logging\n"
        "with quiet_logging(False):\n"
        "    with tqdm(total=3, file=sys.stderr, disable=False, mininterval=0) as bar:\n"
        "        bar.update(1)\n"
        "        logging.getLogger('indexer.ingest.worker').warning('the disk is slow')\n"
        "        logging.getLogger('indexer.ingest.worker').info('not shown without -v')\n"
        "        bar.update(1)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=120
    )
    err = done.stderr.decode()  # bytes: universal newlines would turn the bar's \r into \n
    assert done.returncode == 0, err
    before, found, _ = err.partition("WARNING indexer.ingest.worker: the disk is slow\n")
    assert found and before.endswith("\r"), repr(err)  # the bar was cleared first
    assert "not shown" not in err
