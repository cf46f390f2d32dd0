"""Indexing through the bot: which messages become searchable pictures, silently and durably."""

from __future__ import annotations

import pytest
from bot_world import BotWorld, Picture, WorldFactory, pictures_of, until

from bot.chats import collection_of
from bot.playground.fake_telegram import FakeTelegram
from indexer.model.embedder import Embedder
from indexer.service import IndexService

pytest_plugins = ["bot_fixtures"]

SENDING_METHODS = ("sendMessage", "sendMediaGroup", "sendPhoto", "sendDocument")


async def test_pictures_of_two_groups_are_indexed_in_separate_collections(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group_a, group_b = world.fake.add_group("A"), world.fake.add_group("B")
    alice = world.fake.add_user("Alice")

    for picture in held_out_pictures[:3]:
        world.post_photo(group_a, alice, picture)
    for picture in held_out_pictures[3:5]:
        world.post_photo(group_b, alice, picture)
    await world.until_indexed(group_a, 3)
    await world.until_indexed(group_b, 2)

    assert world.service is not None
    assert set(await world.service.collections()) == {
        collection_of(group_a.id),
        collection_of(group_b.id),
    }
    assert await world.indexed_count(group_a) == 3
    assert await world.indexed_count(group_b) == 2


async def test_every_picture_of_an_album_is_indexed(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group()
    alice = world.fake.add_user("Alice")

    album = world.post_album(group, alice, held_out_pictures[:5])
    await world.until_indexed(group, 5)

    assert await world.indexed_count(group) == 5
    assert world.service is not None
    for posted in album:
        (record,) = await world.service.images_of_message(
            collection_of(group.id), posted.message_id
        )
        assert record.source == f"telegram:{posted.file_id}"
        assert record.poster_name == "Alice" and record.status == "indexed"


async def test_picture_files_and_forwarded_photos_are_indexed(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group()
    alice = world.fake.add_user("Alice")
    channel = world.fake.add_channel("News")
    (file_data, _), photo = held_out_pictures[0], held_out_pictures[1]

    document = world.fake.send_document(group, alice, file_data, "shape.jpg", "image/jpeg")
    world.post_photo(group, alice, photo, forward_from=channel)
    await world.until_indexed(group, 2)

    assert await world.indexed_count(group) == 2
    assert world.service is not None
    (record,) = await world.service.images_of_message(collection_of(group.id), document)
    assert record.source.startswith("telegram:document:")


async def test_a_corrupt_photo_is_skipped_and_the_others_are_indexed(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group()
    alice = world.fake.add_user("Alice")

    world.post_photo(group, alice, held_out_pictures[0])
    world.post_photo(group, alice, b"\xff\xd8\xff\xe0 definitely not a JPEG")
    world.post_photo(group, alice, held_out_pictures[1])
    await world.until_indexed(group, 3)

    assert world.service is not None
    stats = await world.service.stats(collection_of(group.id))
    assert (stats.images, stats.failed) == (2, 1)
    world.fake.send_text(group, alice, "/search a shape")
    assert len(await world.pictures_in(group)) >= 1


async def test_pictures_over_the_download_limit_are_skipped_without_downloading(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group()
    alice = world.fake.add_user("Alice")

    big = world.post_photo(group, alice, held_out_pictures[0], file_size=25 * 1024 * 1024)
    world.post_photo(group, alice, held_out_pictures[1])
    await world.until_indexed(group, 1)

    assert world.service is not None
    assert await world.service.images_of_message(collection_of(group.id), big.message_id) == []
    assert all(call.params["file_id"] != big.file_id for call in world.fake.calls("getFile"))


async def test_other_files_and_chatter_get_no_reply_and_index_nothing(
    new_world: WorldFactory, fake: FakeTelegram, embedder: Embedder
) -> None:
    world = new_world()
    group = fake.add_group()
    alice = fake.add_user("Alice")

    async with world.running():
        fake.send_document(group, alice, b"%PDF-1.4 minutes", "minutes.pdf", "application/pdf")
        fake.send_text(group, alice, "lunch at noon?")
        await fake.wait_until_updates_consumed()
    # Leaving ``running`` waits until every update taken has been handled.

    assert not [call for method in SENDING_METHODS for call in fake.calls(method)]
    assert not fake.calls("getFile")
    async with await IndexService.open(world.config.indexer, embedder) as service:
        assert await service.collections() == []


async def test_stopping_in_the_middle_of_a_burst_and_starting_again_loses_nothing(
    new_world: WorldFactory, fake: FakeTelegram, held_out_pictures: list[Picture]
) -> None:
    world = new_world()
    group = fake.add_group()
    alice = fake.add_user("Alice")
    burst = held_out_pictures[:16]

    async with world.running():
        for picture in burst[:8]:
            world.post_photo(group, alice, picture)
        assert world.service is not None
        service = world.service

        async def some_recorded() -> bool:
            return collection_of(group.id) in await service.collections()

        await until(some_recorded)
        for picture in burst[8:]:
            world.post_photo(group, alice, picture)
    # Stopped while updates were still queued in Telegram and pictures in the indexer.
    async with world.running():
        await world.until_indexed(group, 16)

        assert world.service is not None
        stats = await world.service.stats(collection_of(group.id))
        assert (stats.images, stats.reposts, stats.pending, stats.failed) == (16, 0, 0, 0)


async def test_a_group_that_removed_the_bot_is_not_searched_until_it_adds_it_back(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group("A")
    alice = world.fake.add_user("Alice")
    private = world.fake.private_chat(alice)
    circles = pictures_of(held_out_pictures, "a red circle")
    for picture in circles[:3]:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, 3)

    world.fake.bot_removed(group, alice)
    await world.until_member_status(group, present=False)
    world.fake.send_text(private, alice, "a red circle")
    while_removed = await world.text_in(private)
    world.fake.bot_added(group, alice)
    await world.until_member_status(group, present=True)
    world.post_photo(group, alice, circles[3])
    await world.until_indexed(group, 4)
    world.fake.send_text(private, alice, "a red circle")
    back = await world.pictures_in(private)

    assert while_removed.params["text"].startswith("None of your groups has pictures")
    assert len(back) == 4


@pytest.mark.parametrize("telegram_settings", [{"purge_on_removal": True}])
async def test_purge_on_removal_forgets_the_groups_pictures(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group("A")
    alice = world.fake.add_user("Alice")
    for picture in held_out_pictures[:3]:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, 3)

    world.fake.bot_removed(group, alice)

    async def purged() -> bool:
        return await world.indexed_count(group) == 0

    await until(purged)


async def test_a_hanging_download_in_one_group_holds_no_other_groups_indexing(
    world: BotWorld, held_out_pictures: list[Picture], caplog: pytest.LogCaptureFixture
) -> None:
    stuck_group, quick_group = world.fake.add_group("Stuck"), world.fake.add_group("Quick")
    alice = world.fake.add_user("Alice")
    assert world.service is not None
    service = world.service
    stuck = [world.post_photo(stuck_group, alice, p) for p in held_out_pictures[:10]]
    world.fake.stall_downloads(*(posted.file_id for posted in stuck))

    async def stuck_downloads_started() -> bool:
        return len(world.fake.calls("getFile")) >= 4

    await until(stuck_downloads_started, timeout=30)
    for picture in held_out_pictures[10:20]:
        world.post_photo(quick_group, alice, picture)

    async def quick_indexed() -> bool:
        collection = collection_of(quick_group.id)
        return (
            collection in await service.collections()
            and (await service.stats(collection)).images == 10
        )

    await until(quick_indexed, timeout=30)
    # Not one stuck download has given up yet (Telegram's client times out a silent one after
    # 5 s): the quick group did not wait for them.
    assert not [r for r in caplog.records if "fetching" in r.getMessage()]
    assert await world.indexed_count(stuck_group) == 0
    world.fake.release_downloads()
    await world.until_indexed(stuck_group, 10, timeout=60)
    assert await world.indexed_count(stuck_group) == 10
