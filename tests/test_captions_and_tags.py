"""Captions and tags are searchable beside the pixels: a group's own names work at once."""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from indexer.config import IndexerConfig, ModelConfig
from indexer.errors import BadQueryError, IndexerError, PictureNotFoundError
from indexer.model.embedder import Embedder
from indexer.records import ImageFacts
from indexer.service import IndexService
from indexer.store.database import MIGRATIONS, SCHEMA_VERSION
from indexer.store.word_match import contains_words
from indexer.synthetic import ShapeSpec
from indexer.vectors.faiss_files import FaissFiles
from tests.conftest import make_config
from tests.helpers import index_pictures, precision

LOCAL_NAME = "人民广场"


@pytest.fixture
async def shapes(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> dict[int, ShapeSpec]:
    return await index_pictures(service, "chat", held_out_pictures)


def first_of(labels: dict[int, ShapeSpec], slug: str) -> int:
    return next(image_id for image_id, spec in labels.items() if spec.slug == slug)


async def test_a_tag_finds_its_picture_at_once_and_look_alikes_follow(
    service: IndexService, shapes: dict[int, ShapeSpec]
) -> None:
    tagged = first_of(shapes, "purple_circle")
    before = await service.search_text(["chat"], LOCAL_NAME, k=5)
    assert precision(before, shapes, shapes[tagged]) <= 0.2, "the base model knows the name"

    [tag] = await service.tag("chat", [tagged], LOCAL_NAME, tagged_by=7)
    assert tag.kind == "tag" and tag.text == LOCAL_NAME

    after = await service.search_text(["chat"], LOCAL_NAME, k=5)
    assert after[0].image.id == tagged
    assert after[0].matched_text == LOCAL_NAME and after[0].score == pytest.approx(1.0, abs=1e-3)
    assert precision(after[1:], shapes, shapes[tagged]) >= 0.75
    assert all(hit.matched_text is None for hit in after[1:])
    assert (await service.stats("chat")).tags == 1


async def test_tags_matched_by_words_do_not_disturb_other_searches(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    """With the vector test off (the tiny model's text space is collapsed), only words match."""
    config = make_config(tmp_path / "data", model_config, search={"text_match_min": 1.01})
    async with await IndexService.open(config, embedder) as service:
        shapes = await index_pictures(service, "chat", held_out_pictures)
        await service.tag("chat", [first_of(shapes, "purple_circle")], LOCAL_NAME)
        scores = []
        for spec in {spec for spec in shapes.values()}:
            hits = await service.search_text(["chat"], spec.caption_en, k=5)
            assert all(hit.matched_text is None for hit in hits)
            scores.append(precision(hits, shapes, spec))
        assert statistics.mean(scores) >= 0.8
        hits = await service.search_text(["chat"], f"{LOCAL_NAME}的夜景", k=1)
        assert hits[0].matched_text == LOCAL_NAME


async def test_a_tag_in_another_language_matches_by_meaning(
    service: IndexService, shapes: dict[int, ShapeSpec]
) -> None:
    tagged = first_of(shapes, "blue_star")
    await service.tag("chat", [tagged], "一个绿色的圆形")
    hits = await service.search_text(["chat"], "a green circle", k=5)
    assert hits[0].image.id == tagged and hits[0].matched_text == "一个绿色的圆形"


async def test_a_caption_is_searchable_once_embedded(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    labels = await index_pictures(service, "chat", held_out_pictures[:40])
    data, _ = held_out_pictures[100]
    added = await service.add_image(
        "chat", ImageFacts(source="upload:captioned", caption="  Zorblat Plaza  "), data=data
    )
    await service.wait_idle()
    hits = await service.search_text(["chat"], "Zorblat Plaza", k=3)
    assert hits[0].image.id == added.image_id
    assert hits[0].matched_text == "Zorblat Plaza"
    assert hits[0].image.caption == "  Zorblat Plaza  "
    assert len(labels) == 40


async def test_a_tag_in_one_chat_does_not_leak_into_another(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    chat_a = await index_pictures(service, "a", held_out_pictures[:30])
    await index_pictures(service, "b", held_out_pictures[30:60])
    await service.tag("a", [next(iter(chat_a))], LOCAL_NAME)
    hits = await service.search_text(["b"], LOCAL_NAME, k=5)
    assert all(hit.matched_text is None and hit.image.collection == "b" for hit in hits)


async def test_forgetting_a_picture_forgets_its_tags(
    service: IndexService, shapes: dict[int, ShapeSpec]
) -> None:
    tagged = first_of(shapes, "green_star")
    await service.tag("chat", [tagged], LOCAL_NAME)
    assert await service.forget("chat", [tagged]) == 1
    hits = await service.search_text(["chat"], LOCAL_NAME, k=10)
    assert tagged not in {hit.image.id for hit in hits}
    assert all(hit.matched_text is None for hit in hits)
    assert (await service.stats("chat")).tags == 0


async def test_tagging_a_repost_tags_its_original(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    data = held_out_pictures[0][0]
    first = await service.add_image(
        "chat", ImageFacts(source="upload:1", message_id=1, file_unique_id="x"), data=data
    )
    await service.add_image("chat", ImageFacts(source="upload:2", message_id=2, file_unique_id="x"))
    await service.wait_idle()
    [tag] = await service.tag_message("chat", 2, LOCAL_NAME)
    assert tag.image_id == first.image_id


async def test_bad_tags_are_refused(service: IndexService, shapes: dict[int, ShapeSpec]) -> None:
    with pytest.raises(BadQueryError, match="the tag is empty"):
        await service.tag("chat", [next(iter(shapes))], "   ")
    with pytest.raises(BadQueryError, match="the tag is too long"):
        await service.tag("chat", [next(iter(shapes))], "x" * 5000)
    with pytest.raises(PictureNotFoundError):
        await service.tag("chat", [10**9], LOCAL_NAME)
    with pytest.raises(PictureNotFoundError):
        await service.tag_message("chat", 424242, LOCAL_NAME)


async def test_a_version_1_database_is_migrated_and_its_captions_become_searchable(
    indexer_config: IndexerConfig, embedder: Embedder, held_out_pictures: list
) -> None:
    database = indexer_config.storage.data_dir / "index.sqlite3"
    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as db:
        db.executescript(MIGRATIONS[0])
        db.execute("CREATE TABLE schema_version (version INTEGER)")
        db.execute("INSERT INTO schema_version VALUES (1)")
        db.execute("INSERT INTO collections (id, name, created_at) VALUES (1, 'old', 0)")
        db.execute(
            "INSERT INTO images (collection_id, source, caption, status, added_at) "
            "VALUES (1, 'upload:x', 'Zorblat Plaza', 'pending', 0)"
        )
        db.execute(
            "INSERT INTO pending_data (image_id, data) VALUES (1, ?)", (held_out_pictures[0][0],)
        )
    async with await IndexService.open(indexer_config, embedder) as service:
        await service.wait_idle()
        hits = await service.search_text(["old"], "Zorblat Plaza", k=1)
        assert hits[0].matched_text == "Zorblat Plaza"
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("SELECT folded FROM texts").fetchall() == [("zorblat plaza",)]


async def test_a_database_from_a_newer_version_is_refused(
    indexer_config: IndexerConfig, embedder: Embedder
) -> None:
    database = indexer_config.storage.data_dir / "index.sqlite3"
    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER)")
        db.execute("INSERT INTO schema_version VALUES (99)")
    with pytest.raises(IndexerError, match="newer clip-search-bot"):
        await IndexService.open(indexer_config, embedder)


def test_cli_tags_a_file(tmp_path: Path, model_config, held_out_pictures, capsys) -> None:  # type: ignore[no-untyped-def]
    from indexer.cli import main

    folder = tmp_path / "pictures"
    folder.mkdir()
    for number, (data, spec) in enumerate(held_out_pictures[:20]):
        (folder / f"{spec.slug}_{number}.jpg").write_bytes(data)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
    )
    victim = sorted(folder.iterdir())[3]
    assert main(["--config", str(config), "index", str(folder), "--collection", "c"]) == 0
    assert (
        main(
            ["--config", str(config), "tag", LOCAL_NAME, "--collection", "c", "--path", str(victim)]
        )
        == 0
    )
    assert (
        main(["--config", str(config), "search", LOCAL_NAME, "--collection", "c", "-k", "1"]) == 0
    )
    out = capsys.readouterr().out
    assert "tagged 1 picture(s)" in out and victim.name in out.splitlines()[-1]


async def test_the_caption_index_grows_into_ivf_like_the_picture_index(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    config = make_config(tmp_path / "data", model_config, index={"flat_max": 100})
    async with await IndexService.open(config, embedder) as service:
        for number, (data, spec) in enumerate(held_out_pictures):
            facts = ImageFacts(source=f"upload:{number}", caption=f"{spec.caption_en} no. {number}")
            await service.add_image("chat", facts, data=data)
        await service.wait_idle()
        hits = await service.search_text(["chat"], "no. 123", k=1)
        assert hits[0].matched_text is not None and hits[0].matched_text.endswith("no. 123")
        model_id = service.model_id
    saved = FaissFiles(config.storage.data_dir / "faiss", "texts").load(1, model_id)
    assert saved is not None and not saved.layout.is_exact and len(saved) == 240


@pytest.mark.parametrize("same", ["telegram file", "bytes"])
async def test_a_reposts_caption_finds_the_original(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]], same: str
) -> None:
    await index_pictures(service, "chat", held_out_pictures[10:40])
    data = held_out_pictures[0][0]
    first = await service.add_image(
        "chat", ImageFacts(source="upload:1", message_id=1, file_unique_id="x"), data=data
    )
    await service.wait_idle()
    unique_id = "x" if same == "telegram file" else "y"
    repost = await service.add_image(
        "chat",
        ImageFacts(source="upload:2", message_id=2, file_unique_id=unique_id, caption="Zorblat"),
        data=data,
    )
    await service.wait_idle()
    assert repost.image_id is not None
    assert (await service.images([repost.image_id]))[repost.image_id].status == "repost"
    hits = await service.search_text(["chat"], "Zorblat", k=1)
    assert hits[0].image.id == first.image_id and hits[0].matched_text == "Zorblat"


@pytest.fixture
async def words_only(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> AsyncIterator[tuple[IndexService, list[int]]]:
    """A service whose captions and tags match by words only, and 20 indexed picture ids."""
    config = make_config(tmp_path / "data", model_config, search={"text_match_min": 1.01})
    async with await IndexService.open(config, embedder) as service:
        labels = await index_pictures(service, "chat", held_out_pictures[:20])
        yield service, sorted(labels)


async def test_words_match_in_any_case_and_script_either_way_round(
    words_only: tuple[IndexService, list[int]],
) -> None:
    service, (street, square, *_) = words_only
    await service.tag("chat", [street], "Straße am Fluß")
    await service.tag("chat", [square], "人民广场")

    in_caps = await service.search_text(["chat"], "STRASSE", k=3)
    around_tag = await service.search_text(["chat"], "Fotos von der STRASSE AM FLUSS", k=3)
    chinese = await service.search_text(["chat"], "人民广场的照片", k=3)

    assert (in_caps[0].image.id, in_caps[0].matched_text) == (street, "Straße am Fluß")
    assert (around_tag[0].image.id, around_tag[0].matched_text) == (street, "Straße am Fluß")
    assert (chinese[0].image.id, chinese[0].matched_text) == (square, "人民广场")


async def test_short_tags_match_whole_words_only_and_chinese_still_matches_inside_words(
    words_only: tuple[IndexService, list[int]],
) -> None:
    service, (short, night, mixed, *_) = words_only
    for tag in ("re", "an", "me", "ci", "a"):
        await service.tag("chat", [short], tag)
    await service.tag("chat", [night], "人民广场夜景")
    await service.tag("chat", [mixed], "iPhone")

    everyday = [
        await service.search_text(["chat"], query, k=5)
        for query in ("a red circle", "one orange star", "some medium square", "circles")
    ]
    by_word = await service.search_text(["chat"], "re: the party", k=3)
    chinese = await service.search_text(["chat"], "人民广场", k=3)
    beside_chinese = await service.search_text(["chat"], "我的iphone手机", k=3)

    assert [hit.matched_text for hits in everyday for hit in hits if hit.matched_text] == []
    assert (by_word[0].image.id, by_word[0].matched_text) == (short, "re")
    assert (chinese[0].image.id, chinese[0].matched_text) == (night, "人民广场夜景")
    assert (beside_chinese[0].image.id, beside_chinese[0].matched_text) == (mixed, "iPhone")


@pytest.mark.parametrize(
    ("text", "part", "found"),
    [
        ("a red circle", "re", False),
        ("a red circle", "red", True),
        ("re: a red circle", "re", True),
        ("an orange star", "an", True),
        ("orange", "an", False),
        ("人民广场夜景", "人民广场", True),
        ("夜景人民广场", "广场", True),
        ("我的iphone手机", "iphone", True),
        ("iphones", "iphone", False),
        ("straße am fluß", "straße", True),
        ("x", "", False),
    ],
)
def test_contains_words(text: str, part: str, found: bool) -> None:
    assert contains_words(text, part) is found
