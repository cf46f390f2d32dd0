"""Teaching the bot a group's own words: /tag as a reply to a picture, then search by them."""

from __future__ import annotations

from bot_world import BotWorld, Picture, pictures_of

from bot.chats import collection_of

pytest_plugins = ["bot_fixtures"]

PLACE = "人民广场"


async def test_a_tagged_picture_is_found_by_its_tag_with_the_tag_shown(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group("Trips")
    alice, bob = world.fake.add_user("Alice"), world.fake.add_user("Bob", language_code="zh")
    landmark = pictures_of(held_out_pictures, "a purple circle")[0]
    others = pictures_of(held_out_pictures, "a blue square")[:3]
    posted = world.post_photo(group, alice, landmark)
    for picture in others:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, 4)

    world.fake.send_text(group, bob, f"/tag {PLACE}", reply_to=posted.message_id)
    confirmation = await world.text_in(group)
    world.fake.send_text(group, alice, f"/search {PLACE}")
    shown = await world.pictures_in(group)

    assert confirmation.params["text"] == f"已标记：“{PLACE}”现在能找到 1 张图片。"
    assert shown[0].file_id == posted.file_id
    assert f"🏷 {PLACE}" in shown[0].caption


async def test_tag_needs_a_reply_to_a_picture_and_words(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group("Trips")
    alice = world.fake.add_user("Alice")
    posted = world.post_photo(group, alice, held_out_pictures[0])
    await world.until_indexed(group, 1)

    world.fake.send_text(group, alice, f"/tag {PLACE}")
    no_reply = await world.text_in(group)
    world.fake.send_text(group, alice, "/tag", reply_to=posted.message_id)
    no_words = await world.text_in(group)
    chatter = world.fake.send_text(group, alice, "nice one")
    world.fake.send_text(group, alice, f"/tag {PLACE}", reply_to=chatter)
    not_a_picture = await world.text_in(group)

    assert no_reply.params["text"].startswith("Reply /tag <words> to a picture")
    assert no_words.params["text"].startswith("Reply /tag <words> to a picture")
    assert not_a_picture.params["text"].startswith("Reply /tag <words> to a picture")
    assert world.service is not None
    assert (await world.service.stats(collection_of(group.id))).tags == 0
