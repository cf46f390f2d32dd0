"""Reposts are stored once; forgetting and opting out remove pictures from search at once."""

from __future__ import annotations

from indexer.records import ImageFacts
from indexer.service import IndexService
from indexer.synthetic import ShapeSpec


def facts(number: int, **extra: object) -> ImageFacts:
    return ImageFacts(source=f"upload:{number}", message_id=number, **extra)  # type: ignore[arg-type]


async def test_same_telegram_file_is_recorded_as_a_repost_without_fetching(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    data = held_out_pictures[0][0]
    first = await service.add_image("chat", facts(1, file_unique_id="AQADx"), data=data)
    second = await service.add_image("chat", facts(2, file_unique_id="AQADx"))
    await service.wait_idle()
    assert first.outcome == "queued"
    assert second.outcome == "repost" and second.original_id == first.image_id
    stats = await service.stats("chat")
    assert (stats.images, stats.reposts, stats.index_vectors) == (1, 1, 1)


async def test_same_bytes_under_another_file_id_are_recorded_as_a_repost(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    data = held_out_pictures[0][0]
    await service.add_image("chat", facts(1, file_unique_id="one"), data=data)
    await service.add_image("chat", facts(2, file_unique_id="two"), data=data)
    await service.add_image("chat", facts(3, file_unique_id="three"), data=data)
    await service.wait_idle()
    stats = await service.stats("chat")
    assert (stats.images, stats.reposts, stats.index_vectors) == (1, 2, 1)
    hits = await service.search_text(["chat"], held_out_pictures[0][1].caption_en, k=5)
    assert [hit.image.message_id for hit in hits] == [1]


async def test_the_same_post_handed_over_twice_is_stored_once(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    data = held_out_pictures[0][0]
    assert (await service.add_image("chat", facts(1), data=data)).outcome == "queued"
    assert (await service.add_image("chat", facts(1), data=data)).outcome == "known"


async def test_a_repost_in_another_collection_is_a_separate_picture(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    data = held_out_pictures[0][0]
    await service.add_image("a", facts(1, file_unique_id="x"), data=data)
    assert (await service.add_image("b", facts(1, file_unique_id="x"), data=data)).outcome == (
        "queued"
    )


async def test_forgotten_picture_disappears_from_search_at_once(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    for number, (data, _) in enumerate(held_out_pictures[:30]):
        await service.add_image("chat", facts(number), data=data)
    await service.wait_idle()
    query = held_out_pictures[0][1].caption_en
    top = (await service.search_text(["chat"], query, k=1))[0]
    assert await service.forget_message("chat", top.image.message_id) == 1
    after = await service.search_text(["chat"], query, k=30)
    assert top.image.id not in {hit.image.id for hit in after}
    stats = await service.stats("chat")
    assert (stats.images, stats.forgotten, stats.index_vectors) == (29, 1, 29)


async def test_forgetting_the_original_forgets_its_reposts(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    data = held_out_pictures[0][0]
    await service.add_image("chat", facts(1, file_unique_id="x"), data=data)
    await service.add_image("chat", facts(2, file_unique_id="x"))
    await service.wait_idle()
    assert await service.forget_message("chat", 1) == 2
    stats = await service.stats("chat")
    assert (stats.images, stats.reposts) == (0, 0)


async def test_opt_out_forgets_a_posters_pictures_and_skips_new_ones(
    service: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    for number, (data, _) in enumerate(held_out_pictures[:10]):
        await service.add_image("chat", facts(number, poster_id=number % 2), data=data)
    await service.wait_idle()
    assert await service.opt_out("chat", poster_id=1) == 5
    hits = await service.search_text(["chat"], "a red circle", k=10)
    assert {hit.image.poster_id for hit in hits} == {0}
    late = await service.add_image("chat", facts(99, poster_id=1), data=held_out_pictures[20][0])
    assert late.outcome == "opted_out"
    await service.opt_in("chat", poster_id=1)
    again = await service.add_image("chat", facts(99, poster_id=1), data=held_out_pictures[20][0])
    assert again.outcome == "queued"
