"""Whose picture is embedded next: chats take turns, and inside a chat its posters take turns,
so one person's flood (a hundred 4K GIFs, each decoding for up to limits.clip_decode_seconds)
never holds up another person's picture in the same chat, nor another chat's."""

from __future__ import annotations

from pathlib import Path

from indexer.records import ImageFacts
from indexer.store import Store


async def test_a_flood_by_one_poster_does_not_hold_up_the_others_in_the_same_chat(
    tmp_path: Path,
) -> None:
    store = await Store.open_in(tmp_path)
    try:
        group = await store.collections.ensure("group")
        other_chat = await store.collections.ensure("other")
        flood = [
            await store.queue.add_image(group, ImageFacts(f"file:/flood/{n}.gif", poster_id=1))
            for n in range(50)
        ]
        bens = await store.queue.add_image(group, ImageFacts("file:/ben.jpg", poster_id=2))
        cats = await store.queue.add_image(group, ImageFacts("file:/cat.jpg", poster_id=3))
        elsewhere = await store.queue.add_image(
            other_chat, ImageFacts("file:/elsewhere.jpg", poster_id=1)
        )
        first = [p.id for p in await store.queue.next_pending(4, ["file"])]
    finally:
        await store.close()
    # Each chat in turn, and inside the group each poster in turn, oldest first.
    assert set(first) == {flood[0], bens, cats, elsewhere}
    assert first.index(flood[0]) < first.index(bens) < first.index(cats)
