"""Through the bot: an /optout sent while a burst of the poster's photos is being indexed wins."""

from __future__ import annotations

from bot_world import BotWorld, Picture, until

from bot.chats import collection_of

pytest_plugins = ["bot_fixtures"]


async def test_optout_during_a_burst_of_photos_leaves_none_of_them_searchable(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group("Burst")
    alice, bob = world.fake.add_user("Alice"), world.fake.add_user("Bob")
    world.post_photo(group, bob, held_out_pictures[100])
    await world.until_indexed(group, 1)
    burst = [world.post_photo(group, alice, picture) for picture in held_out_pictures[:16]]
    service = world.service
    assert service is not None

    async def some_recorded() -> bool:
        stats = await service.stats(collection_of(group.id))
        return stats.images + stats.pending > 1

    await until(some_recorded)
    world.fake.send_text(group, alice, "/optout")
    reply = await world.text_in(group)
    await world.until_indexed(group, 1)

    assert reply.params["text"].startswith("Done: I forgot")
    assert await world.indexed_count(group) == 1
    for caption in sorted({spec.caption_en for _, spec in held_out_pictures[:16]}):
        world.fake.send_text(group, bob, f"/search {caption}")
        shown = {s.file_id for s in await world.pictures_in(group)}
        assert not shown & {p.file_id for p in burst}, caption
