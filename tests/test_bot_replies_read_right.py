"""What the bot says reads as meant: echoed words cannot reverse its sentence, a hit found by
its words shows the words (not a cosine that reads as a bug), and someone else's More button
says whose it is (issue 22, items 3–5)."""

from __future__ import annotations

from bot_world import BotWorld, Picture, WorldFactory, pictures_of

pytest_plugins = ["bot_fixtures"]

PLACE = "Zorblat Plaza"


async def test_a_bidi_override_in_a_tag_cannot_reverse_the_bots_sentence(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group("Trips")
    alice = world.fake.add_user("Alice")
    posted = world.post_photo(group, alice, pictures_of(held_out_pictures, "a purple circle")[0])
    await world.until_indexed(group, 1)

    world.fake.send_text(group, alice, f"/tag {PLACE} \u202eevil", reply_to=posted.message_id)
    confirmation = (await world.text_in(group)).params["text"]

    assert "\u202e" not in confirmation and "\u202d" not in confirmation
    assert f"{PLACE} evil" in confirmation


async def test_a_hit_found_by_its_tag_shows_the_words_and_no_score(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group = world.fake.add_group("Trips")
    alice = world.fake.add_user("Alice")
    landmark = world.post_photo(group, alice, pictures_of(held_out_pictures, "a purple circle")[0])
    for picture in pictures_of(held_out_pictures, "a blue square")[:3]:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, 4)
    world.fake.send_text(group, alice, f"/tag {PLACE}", reply_to=landmark.message_id)
    await world.text_in(group)

    world.fake.send_text(group, alice, "/search Plaza")
    shown = await world.pictures_in(group)

    assert shown[0].file_id == landmark.file_id
    assert f"🏷 {PLACE}" in shown[0].caption and "score" not in shown[0].caption
    assert all("score" in other.caption for other in shown[1:] if "🏷" not in other.caption)


async def test_someone_elses_more_button_says_whose_it_is_and_stays_theirs(
    new_world: WorldFactory, held_out_pictures: list[Picture]
) -> None:
    world = new_world(score_margin=2.0, results_per_page=2)
    async with world.running():
        await _someone_elses_more_button(world, held_out_pictures)


async def _someone_elses_more_button(world: BotWorld, held_out_pictures: list[Picture]) -> None:
    group = world.fake.add_group("Shapes")
    alice, bob = world.fake.add_user("Alice"), world.fake.add_user("Bob")
    circles = pictures_of(held_out_pictures, "a red circle")[:4]
    for picture in circles:
        world.post_photo(group, alice, picture)
    await world.until_indexed(group, len(circles))
    world.fake.send_text(group, alice, "/search a red circle")
    footer = await world.footer_in(group)
    more = footer.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    footer_id = footer.result["message_id"]

    bobs = world.fake.press_button(group, bob, footer_id, more)
    await world.fake.wait_for(
        "answerCallbackQuery", lambda c: c.params["callback_query_id"] == bobs
    )
    alices = world.fake.press_button(group, alice, footer_id, more)
    await world.fake.wait_for(
        "answerCallbackQuery", lambda c: c.params["callback_query_id"] == alices
    )

    assert world.fake.world.callback_answers[bobs]["text"].startswith("This is someone else's")
    assert (
        "text" not in world.fake.world.callback_answers[alices]
        or not (world.fake.world.callback_answers[alices]["text"])
    )
