"""A basic group that becomes a supergroup (new chat id) keeps its pictures."""

from __future__ import annotations

from bot_world import BotWorld, Picture, pictures_of
from helpers import index_pictures

from indexer.service import IndexService
from indexer.synthetic import ShapeSpec

pytest_plugins = ["bot_fixtures"]

RED_CIRCLE = "a red circle"


async def test_pictures_of_a_group_follow_it_when_it_becomes_a_supergroup(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    fake = world.fake
    group, alice = fake.add_group("Family", supergroup=False), fake.add_user("Alice")
    circles = pictures_of(held_out_pictures, RED_CIRCLE)
    others = [p for p in held_out_pictures if p[1].caption_en != RED_CIRCLE]
    for picture in [*circles[:2], *others[:4]]:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, 6)

    supergroup = fake.upgrade_to_supergroup(group, alice)
    world.post_photo(supergroup, alice, circles[2])
    await world.until_indexed(supergroup, 7)
    fake.send_text(supergroup, alice, f"/search {RED_CIRCLE}")
    shown = await world.pictures_in(supergroup)

    red = [s for s in shown if s.spec is not None and s.spec.caption_en == RED_CIRCLE]
    assert len(red) == 3
    assert {s.posted.chat.id for s in red if s.posted} == {group.id, supergroup.id}


async def test_moving_into_an_existing_collection_merges_both(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    old = await index_pictures(service, "old", held_out_pictures[:30], prefix="old")
    new = await index_pictures(service, "new", held_out_pictures[30:60], prefix="new")

    await service.move_collection("old", "new")
    # A picture query ranks every picture of the collection (text queries keep a floor).
    probe = held_out_pictures[0][0]
    hits = await service.search_image(["new"], probe, k=60, include_self=True)

    assert "old" not in await service.collections()
    assert {hit.image.id for hit in hits} == set(old) | set(new)
    assert (await service.stats("new")).index_vectors == 60
