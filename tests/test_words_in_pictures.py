"""Words inside pictures (#18): the real recogniser reads generated signs, notes and
screenshots in English and Chinese, and a search by a word they carry finds them.

The pictures are made here (indexer/ocr/samples.py); the recogniser is rapidocr-onnxruntime
with the weights its wheel ships. One folder is indexed once for the whole module through the
command line, as a person would.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from bot_world import BotWorld, bot_config
from conftest import make_config
from PIL import Image

from bot.playground.cast import build_cast, post_demo_pictures, words_query
from bot.playground.fake_telegram import FakeTelegram
from indexer.cli import main
from indexer.config import IndexerConfig, LimitsConfig, ModelConfig, OcrConfig
from indexer.ingest import reading
from indexer.ocr.recogniser import ReadingFailed, Recogniser
from indexer.ocr.samples import Style, cjk_font, lettered_picture
from indexer.records import ImageFacts, PictureToRead
from indexer.service import Embedder, IndexService
from indexer.store import Store
from indexer.store.database import MIGRATIONS, SCHEMA_VERSION, _statements
from indexer.synthetic import ShapeSpec

#: file name → (lines, style) of the pictures with words.
WORDY = {
    "invoice.jpg": (["Invoice #20931", "Total 48.50"], "screenshot"),
    "plate.jpg": (["RE16 TGK"], "sign"),
    "wifi.jpg": (["Guests welcome", "WiFi password: lemon"], "note"),
    "square.jpg": (["人民广场", "People's Square"], "sign"),
}
SHAPES = 3

pytest_plugins = ["bot_fixtures"]


def needs_cjk_font() -> None:
    """Chinese pictures need a CJK font (scripts/test.sh installs one); CI must have it."""
    if cjk_font() is None and not os.environ.get("CI"):
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-zenhei)")


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory,
    model_config: ModelConfig,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> Path:
    """A folder of pictures with and without words, indexed with the default config (reading
    on), so every picture was read before ``index`` returned."""
    folder = tmp_path_factory.mktemp("words")
    pictures = folder / "pictures"
    pictures.mkdir()
    for number, (name, (lines, style)) in enumerate(WORDY.items()):
        if name == "square.jpg" and cjk_font() is None:
            continue
        image = lettered_picture(lines, style, seed=number, rotation=(-2, 1, 2, -1)[number])
        (pictures / name).write_bytes(jpeg(image))
    for number, (data, _) in enumerate(held_out_pictures[:SHAPES]):
        (pictures / f"shape_{number}.jpg").write_bytes(data)
    (folder / "config.toml").write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        '[storage]\ndata_dir = "data"\n'
    )
    assert cli(folder, "index", str(pictures), "--collection", "c")[0] == 0
    return folder


def cli(workspace: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["--config", str(workspace / "config.toml"), *args])
    return status, out.getvalue()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("20931", "invoice.jpg"),
        ("RE16", "plate.jpg"),
        ("lemon", "wifi.jpg"),
        ("人民广场", "square.jpg"),
        ("广场", "square.jpg"),
    ],
)
def test_a_word_written_in_a_picture_finds_it_in_the_top_five(
    workspace: Path, query: str, expected: str
) -> None:
    if expected == "square.jpg":
        needs_cjk_font()
    status, out = cli(workspace, "search", query, "--collection", "c", "-k", "5")
    assert status == 0
    lines = out.splitlines()
    assert any(expected in line for line in lines[:5]), out
    line = next(line for line in lines if expected in line)
    assert "📝" in line and query.casefold() in line.casefold(), line


def test_a_word_no_picture_carries_matches_no_words(workspace: Path) -> None:
    _, out = cli(workspace, "search", "20932", "--collection", "c", "-k", "5")
    assert "📝" not in out


def test_list_shows_the_words_read_in_each_picture(workspace: Path) -> None:
    status, out = cli(workspace, "list", "--collection", "c", "--json")
    assert status == 0
    listed = {Path(item["where"]).name: item for item in json.loads(out)}
    assert "20931" in listed["invoice.jpg"]["words"]
    assert "lemon" in listed["wifi.jpg"]["words"].casefold()
    assert all(listed[f"shape_{number}.jpg"]["words"] is None for number in range(SHAPES))


def test_stats_and_check_count_the_pictures_read(workspace: Path) -> None:
    with_words = sum((workspace / "pictures" / name).exists() for name in WORDY)
    total = with_words + SHAPES
    _, out = cli(workspace, "stats", "--collection", "c")
    assert f"words read in {total} pictures ({with_words} with words), 0 waiting" in out
    status, out = cli(workspace, "check")
    assert status == 0, out
    assert f"words read in {total}, 0 not read yet, 0 unreadable" in out
    copy = workspace / "copy.sqlite3"
    assert cli(workspace, "backup", str(copy))[0] == 0
    with contextlib.closing(sqlite3.connect(copy)) as db:
        kept = db.execute("SELECT text FROM texts WHERE kind = 'ocr'").fetchall()
    assert len(kept) == with_words and any("20931" in text for (text,) in kept)


def test_hostile_pictures_fail_alone_and_the_next_picture_is_read() -> None:
    sign = jpeg(lettered_picture(["RE16 TGK"], "sign", seed=1))
    thin = io.BytesIO()
    Image.new("RGB", (50000, 1), (0, 0, 0)).save(thin, "PNG")
    huge = io.BytesIO()
    Image.new("L", (7000, 7000), 255).save(huge, "PNG")
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000), 0).save(bomb, "PNG")

    async def read_all() -> list[str]:
        reader = Recogniser(OcrConfig(seconds_per_picture=20), LimitsConfig())
        outcomes = []
        try:
            for data in (bomb.getvalue(), b"\x89PNG not really", thin.getvalue(), huge.getvalue()):
                try:
                    outcomes.append(repr((await reader.read(data)).words))
                except ReadingFailed as exc:
                    outcomes.append(f"failed{' for good' if exc.permanent else ''}: {exc}")
            outcomes.append((await reader.read(sign)).words)
        finally:
            await reader.close()
        return outcomes

    bomb_outcome, junk, thin_words, huge_words, after = asyncio.run(read_all())
    assert bomb_outcome.startswith("failed for good: the picture is too large"), bomb_outcome
    assert junk.startswith("failed for good: the file is not a picture"), junk
    assert thin_words == huge_words == "''"
    assert after == "RE16 TGK"


def test_a_crashed_or_hanging_recogniser_fails_only_that_picture() -> None:
    slow = jpeg(lettered_picture(["Invoice #20931"] * 20, "screenshot", (1080, 1920), seed=2))
    sign = jpeg(lettered_picture(["RE16 TGK"], "sign", seed=1))

    async def scenario() -> tuple[str, str, str, str]:
        hurried = Recogniser(OcrConfig(seconds_per_picture=0.2), LimitsConfig())
        reader = Recogniser(OcrConfig(seconds_per_picture=20), LimitsConfig())
        try:
            with pytest.raises(ReadingFailed) as hang:
                await hurried.read(slow)
            assert hurried.pid is None  # the hanging child was killed
            await reader.start()
            pid = reader.pid
            assert pid is not None
            crashing = asyncio.create_task(reader.read(slow))
            await asyncio.sleep(0.2)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(ReadingFailed) as crash:
                await crashing
            after = await reader.read(sign)
            return str(hang.value), str(crash.value), after.words, str(reader.pid != pid)
        finally:
            await hurried.close()
            await reader.close()

    hang, crash, after, restarted = asyncio.run(scenario())
    assert hang == "reading the words took longer than 0.2 s"
    assert crash.startswith("the recogniser crashed")
    assert after == "RE16 TGK" and restarted == "True"


def reading_config(tmp_path: Path, model_config: ModelConfig) -> IndexerConfig:
    return make_config(tmp_path / "data", model_config, ocr={"enabled": True})


def drawn(folder: Path, pictures: dict[str, tuple[list[str], Style, int]]) -> dict[str, Path]:
    """Pictures with words written into ``folder``: name → (lines, style, seed)."""
    folder.mkdir(exist_ok=True)
    paths = {name: folder / name for name in pictures}
    for name, (lines, style, seed) in pictures.items():
        paths[name].write_bytes(jpeg(lettered_picture(lines, style, seed=seed)))
    return paths


def _everything_on_disk(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


async def test_forget_removes_the_words_from_search_and_from_the_files(
    tmp_path: Path, model_config: ModelConfig, embedder: Embedder
) -> None:
    config = reading_config(tmp_path, model_config)
    paths = drawn(
        tmp_path / "pictures",
        {
            "order.jpg": (["ORDER 731942", "Qty 3"], "screenshot", 5),
            "ticket.jpg": (["TICKET 5501"], "sign", 6),
        },
    )
    async with await IndexService.open(config, embedder) as service:
        for poster, path in enumerate(paths.values(), start=1):
            await service.add_image("c", ImageFacts(source=f"file:{path}", poster_id=poster))
        await service.wait_idle()
        assert b"5501" in _everything_on_disk(config.storage.data_dir)
        # An opt-out takes the words of the person's pictures too.
        await service.opt_out("c", 2)
        assert not [hit for hit in await service.search_text(["c"], "5501") if hit.matched_text]

        found = await service.search_text(["c"], "731942", k=5)
        assert [hit.matched_kind for hit in found[:1]] == ["ocr"], found
        assert "731942" in (found[0].matched_text or "")
        assert b"731942" in _everything_on_disk(config.storage.data_dir), "would pass on any"

        assert await service.forget("c", [found[0].image.id]) == 1
        after = await service.search_text(["c"], "731942", k=5)
        assert all(hit.image.id != found[0].image.id for hit in after)
        assert all("731942" not in (hit.matched_text or "") for hit in after)
    assert b"731942" not in _everything_on_disk(config.storage.data_dir)
    assert b"5501" not in _everything_on_disk(config.storage.data_dir)


async def test_a_picture_that_cannot_be_fetched_again_fails_alone_and_is_counted(
    tmp_path: Path, model_config: ModelConfig, embedder: Embedder
) -> None:
    config = reading_config(tmp_path, model_config)
    paths = drawn(
        tmp_path / "pictures",
        {"kept.jpg": (["RE16 TGK"], "sign", 1), "lost.jpg": (["TICKET 5501"], "sign", 6)},
    )
    kept, lost = paths["kept.jpg"], paths["lost.jpg"]
    config_off = make_config(tmp_path / "data", model_config)
    async with await IndexService.open(config_off, embedder) as service:
        for path in (lost, kept):
            await service.add_image("c", ImageFacts(source=f"file:{path}"))
        await service.wait_idle()
        assert (await service.stats("c")).readings.unread == 2
    lost.unlink()
    # Opened again with reading on, as a data folder from before reading existed would be.
    async with await IndexService.open(config, embedder) as service:
        await service.wait_idle()
        readings = (await service.stats("c")).readings
        hits = await service.search_text(["c"], "RE16", k=5)
    counts = (readings.read, readings.with_words, readings.unread, readings.unreadable)
    assert counts == (1, 1, 0, 1)
    assert hits[0].matched_kind == "ocr" and hits[0].image.source == f"file:{kept}"


async def test_a_photo_posted_in_a_group_is_found_by_the_words_on_it(
    fake: FakeTelegram, tmp_path: Path, model_config: ModelConfig, embedder: Embedder
) -> None:
    config = bot_config(fake, tmp_path / "data", model_config)
    reading = config.indexer.model_copy(update={"ocr": OcrConfig()})
    world = BotWorld(fake, dataclasses.replace(config, indexer=reading), embedder)
    async with world.running():
        group, alice = fake.add_group("Flat"), fake.add_user("Alice")
        lines = ["Guests welcome", "WiFi password: lemon"]
        world.post_photo(group, alice, jpeg(lettered_picture(lines, "note", seed=3)))
        await world.until_indexed(group, 1)

        fake.send_text(group, alice, "/search lemon")
        shown = await world.pictures_in(group)
        fake.send_text(group, alice, "/stats")
        stats = (await world.text_in(group)).params["text"]

    assert len(shown) == 1 and shown[0].posted is not None
    assert "\n📝 '" in shown[0].caption and "lemon'" in shown[0].caption, shown[0].caption
    assert "Read for words: 1 (1 with words, 0 waiting)" in stats


async def test_the_playground_demo_group_answers_its_words_chip_from_the_pictures(
    fake: FakeTelegram, tmp_path: Path, model_config: ModelConfig, embedder: Embedder
) -> None:
    config = bot_config(fake, tmp_path / "data", model_config)
    reading = config.indexer.model_copy(update={"ocr": OcrConfig()})
    world = BotWorld(fake, dataclasses.replace(config, indexer=reading), embedder)
    cast = build_cast(fake)
    group, ada = cast.demo_group, cast.people[0].user
    chip = f"/search {words_query()}"
    assert chip in cast.tries[group.id]
    async with world.running():
        count = post_demo_pictures(fake, cast)
        await world.until_indexed(group, count, timeout=60)

        fake.send_text(group, ada, chip)
        shown = await world.pictures_in(group)

    assert shown and "📝 '" in shown[0].caption and words_query() in shown[0].caption


async def test_a_schema_7_folder_keeps_its_texts_and_vectors_and_its_pictures_wait_to_be_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index.sqlite3"
    with sqlite3.connect(path) as db:
        db.create_function("casefold", 1, str.casefold)
        for script in MIGRATIONS[:7]:
            for statement in _statements(script):
                db.execute(statement)
        db.execute("CREATE TABLE schema_version (version INTEGER)")
        db.execute("INSERT INTO schema_version VALUES (7)")
        db.execute("INSERT INTO collections (id, name, created_at) VALUES (1, 'old', 0)")
        db.execute(
            "INSERT INTO images (id, collection_id, source, status, added_at) "
            "VALUES (1, 1, 'file:/a.jpg', 'indexed', 0)"
        )
        db.execute(
            "INSERT INTO texts (id, image_id, kind, text, folded, added_at) "
            "VALUES (5, 1, 'tag', 'Zorblat Plaza', 'zorblat plaza', 0)"
        )
        db.execute("INSERT INTO text_vectors VALUES (5, 'm', ?)", (b"\x00" * 16,))
    store = await Store.open(path)
    try:
        assert await store.health.word_index_sound()
        assert [text.text for text in await store.texts.containing([1], "zorblat", 5)] == [
            "Zorblat Plaza"
        ]
        waiting = PictureToRead(1, 1, "file:/a.jpg", 0)
        assert await store.readings.unread(["file"], 5, 3) == [waiting]
        await store.readings.begin(waiting)
        assert await store.readings.finish(1, "RE16 TGK", 0.9)
        # A second reader (another process) that finishes later changes nothing.
        assert await store.readings.finish(1, "RE16 TGK again", 0.9) is False
        assert await store.readings.words_of([1]) == {1: "RE16 TGK"}
        assert await store.readings.unread(["file"], 5, 3) == []
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT text_id, model_id FROM text_vectors").fetchall() == [(5, "m")]
        assert db.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)


async def test_a_reading_cut_short_by_a_shutdown_is_not_counted_against_the_picture(
    tmp_path: Path, model_config: ModelConfig, embedder: Embedder
) -> None:
    config = reading_config(tmp_path, model_config)
    path = tmp_path / "long.jpg"
    path.write_bytes(
        jpeg(lettered_picture(["Invoice #20931"] * 20, "screenshot", (1080, 1920), seed=2))
    )
    database = config.storage.data_dir / "index.sqlite3"

    def attempts() -> list[tuple[int, object]]:
        with sqlite3.connect(database) as db:
            return db.execute("SELECT attempts, read_at FROM picture_readings").fetchall()

    async with await IndexService.open(config, embedder) as service:
        await service.add_image("c", ImageFacts(source=f"file:{path}"))
        for _ in range(600):
            if attempts():
                break
            await asyncio.sleep(0.05)
        assert attempts() == [(1, None)]  # being read

    assert attempts() == [(0, None)]  # not read, and no attempt charged


async def test_without_the_recogniser_one_line_says_so_and_pictures_are_still_found(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(reading, "RECOGNISER_PACKAGE", "rapidocr_not_installed_here")
    config = reading_config(tmp_path, model_config)
    for number, (data, _) in enumerate(held_out_pictures[:2]):
        (tmp_path / f"{number}.jpg").write_bytes(data)
    spec = held_out_pictures[0][1]
    async with await IndexService.open(config, embedder) as service:
        for number in range(2):
            await service.add_image("c", ImageFacts(source=f"file:{tmp_path / f'{number}.jpg'}"))
        await service.wait_idle()
        hits = await service.search_text(["c"], spec.caption_en, k=1)
        readings = (await service.stats("c")).readings

    notes = [record for record in caplog.records if "not read" in record.getMessage()]
    assert len(notes) == 1 and "rapidocr_not_installed_here" in notes[0].getMessage()
    assert "\n" not in notes[0].getMessage()
    assert hits and (readings.read, readings.unread) == (0, 2)


def test_a_paused_recogniser_takes_no_cpu_and_no_time_off_its_deadline() -> None:
    sign = jpeg(lettered_picture(["RE16 TGK"], "sign", seed=1))

    def cpu_ticks(pid: int) -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    async def scenario() -> tuple[str, float, int]:
        reader = Recogniser(OcrConfig(seconds_per_picture=2), LimitsConfig())
        try:
            await reader.start()
            assert reader.pid is not None
            reader.pause()
            started = time.monotonic()
            reading = asyncio.create_task(reader.read(sign))
            await asyncio.sleep(0.5)
            before = cpu_ticks(reader.pid)
            await asyncio.sleep(2.5)
            spent = cpu_ticks(reader.pid) - before
            reader.resume()
            words = (await reading).words
            return words, time.monotonic() - started, spent
        finally:
            await reader.close()

    words, waited, ticks_while_paused = asyncio.run(scenario())
    assert words == "RE16 TGK" and waited > 2.0  # past the deadline, but paused most of it
    assert ticks_while_paused == 0
