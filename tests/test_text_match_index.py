"""Captions and tags are matched through indexes (a trigram index for "the text contains the
query", the query's word spans looked up for "the query contains the text") and find exactly
what reading every text with :func:`indexer.store.word_match.contains_words` finds, in every script,
including an upgraded database's old texts and queries that must fall back to reading."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from indexer.records import ImageFacts
from indexer.store import DATABASE_FILE, Store
from indexer.store.database import MIGRATIONS
from indexer.store.word_match import contains_words

TEXTS = [
    "re",
    "an",
    "Big Sun",
    "big sun over the bay",
    "People's Square at night",
    "人民广场",
    "人民广场夜景",
    "我的iphone手机",
    'he said "hi" (twice) - ok*',
    "a red circle",
    "RED",
    "東京タワー",
    "party",
    "summer party 2024",
    "x",
]
QUERIES = [
    "a red circle",
    "re",
    "red",
    "big sun",
    "the big sun over the bay at dawn",
    "people's square",
    "人民广场",
    "人民",
    "去人民广场夜景拍照",
    "iphone",
    '"hi" (twice)',
    'said "hi',
    "ok*",
    "- ok",
    "東京タワーの夜",
    "summer party 2024 in oslo",
    "nothing like any of them",
    "广场" * 60,  # an unspaced query with more word spans than are looked up
]


def expected(texts: list[str], query: str) -> list[str]:
    """What reading every text finds: the text holds the query, or the query holds it."""
    folded = query.casefold()
    return [
        text
        for text in texts
        if (len(folded) >= 2 and contains_words(text.casefold(), folded))
        or (len(text) >= 2 and contains_words(folded, text.casefold()))
    ]


async def stored(store: Store, texts: list[str]) -> int:
    collection_id = await store.collections.ensure("c")
    for n, text in enumerate(texts):
        facts = ImageFacts(source=f"upload:{n}", caption=text)
        assert await store.queue.add_image(collection_id, facts, data=b"x") is not None
    return collection_id


@pytest.mark.parametrize("query", QUERIES)
async def test_indexed_match_finds_what_reading_every_text_finds(
    tmp_path: Path, query: str
) -> None:
    store = await Store.open_in(tmp_path)
    try:
        collection_id = await stored(store, TEXTS)
        found = await store.texts.containing([collection_id], query, limit=100)
        assert sorted(text.text for text in found) == sorted(expected(TEXTS, query))
    finally:
        await store.close()


async def test_random_texts_and_queries_match_as_reading_them_does(tmp_path: Path) -> None:
    rng = random.Random(7)
    words = ["sun", "Sun", "re", "red", "a", "人民", "广场", "夜景", "ok", "Zoë", "-", '"']
    texts = [" ".join(rng.choices(words, k=rng.randint(1, 4))) for _ in range(150)]
    texts += [
        "".join(rng.choices(["人民", "广场", "夜景"], k=rng.randint(1, 3))) for _ in range(50)
    ]
    store = await Store.open_in(tmp_path)
    try:
        collection_id = await stored(store, texts)
        for _ in range(60):
            query = " ".join(rng.choices(words, k=rng.randint(1, 5)))
            found = await store.texts.containing([collection_id], query, limit=1000)
            assert sorted(t.text for t in found) == sorted(expected(texts, query)), query
    finally:
        await store.close()


async def test_a_new_tag_is_found_and_a_forgotten_picture_s_texts_are_not(tmp_path: Path) -> None:
    store = await Store.open_in(tmp_path)
    try:
        collection_id = await stored(store, ["sunset over the bay"])
        [caption] = await store.texts.containing([collection_id], "sunset", 10)
        tag = await store.texts.add_tag(collection_id, caption.image_id, "Lisbon trip", None)
        found = await store.texts.containing([collection_id], "lisbon", 10)
        assert [text.id for text in found] == [tag.id]
        await store.pictures.forget(collection_id, [caption.image_id])
        assert await store.texts.containing([collection_id], "lisbon", 10) == []
        assert await store.health.integrity_problems() == []
    finally:
        await store.close()


async def test_a_database_from_before_the_index_finds_its_old_captions(tmp_path: Path) -> None:
    """Schema 4 had no trigram index: opening it builds one over the captions it holds."""
    path = tmp_path / DATABASE_FILE
    old = sqlite3.connect(path)
    old.create_function("casefold", 1, lambda text: text.casefold())
    old.executescript("CREATE TABLE schema_version (version INTEGER);")
    for step in MIGRATIONS[:4]:
        old.executescript(step)
    old.executescript(
        "INSERT INTO schema_version VALUES (4);"
        "INSERT INTO collections (name, created_at) VALUES ('c', 0);"
        "INSERT INTO images (collection_id, source, status, caption, added_at) "
        "VALUES (1, 'upload:1', 'indexed', 'Sunset over Lisbon', 0);"
        "INSERT INTO texts (image_id, kind, text, folded, added_at) "
        "VALUES (1, 'caption', 'Sunset over Lisbon', 'sunset over lisbon', 0);"
    )
    old.commit()
    old.close()
    store = await Store.open_in(tmp_path)
    try:
        for query in ("lisbon", "a sunset over lisbon in may"):
            assert [t.text for t in await store.texts.containing([1], query, 10)] == [
                "Sunset over Lisbon"
            ]
    finally:
        await store.close()
