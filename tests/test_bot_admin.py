"""Looking after a group's index through the bot: /reindex, /stats, /forget, /optout, /optin."""

from __future__ import annotations

import re

from bot_world import BotWorld, Picture, Posted, WorldFactory, pictures_of

from bot.chats import collection_of
from bot.playground.fake_telegram import Chat, FakeTelegram, User

pytest_plugins = ["bot_fixtures"]

RED_CIRCLE = "a red circle"


async def group_with_pictures(
    world: BotWorld, held_out_pictures: list[Picture]
) -> tuple[Chat, User, User, list[Posted]]:
    """A group where Alice (a member) posted 3 red circles and Bob (an admin) 3 blue squares."""
    group = world.fake.add_group("Shapes")
    alice, bob = world.fake.add_user("Alice"), world.fake.add_user("Bob")
    world.fake.set_member(group, bob, "administrator")
    posted = [
        world.post_photo(group, alice, picture)
        for picture in pictures_of(held_out_pictures, RED_CIRCLE)[:3]
    ]
    posted += [
        world.post_photo(group, bob, picture)
        for picture in pictures_of(held_out_pictures, "a blue square")[:3]
    ]
    await world.until_indexed(group, 6)
    return group, alice, bob, posted


async def search_file_ids(world: BotWorld, chat: Chat, user: User, text: str) -> set[str]:
    world.fake.send_text(chat, user, f"/search {text}")
    return {shown.file_id for shown in await world.pictures_in(chat)}


async def test_reindex_by_a_non_admin_is_refused_and_nothing_happens(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice, _, _ = await group_with_pictures(world, held_out_pictures)

    world.fake.send_text(group, alice, "/reindex")
    reply = await world.text_in(group)

    assert reply.params["text"] == "Only admins of this group can do that."
    assert world.service is not None and not world.service.is_reindexing(collection_of(group.id))
    assert not world.fake.calls("editMessageText")


async def test_reindex_by_an_admin_edits_one_progress_message_while_searches_answer(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice, bob, _ = await group_with_pictures(world, held_out_pictures)
    # The reindex's first download waits 1 s; the others are re-embedded meanwhile, so the
    # first progress edit may show some of the six or all of them (on a busy machine).
    world.fake.fail_next("getFile", 429, retry_after=1)

    world.fake.send_text(group, bob, "/reindex")
    started = await world.text_in(group)
    world.fake.send_text(group, bob, "/reindex")
    refused = await world.text_in(group)
    answered = await search_file_ids(world, group, alice, RED_CIRCLE)
    album = world.fake.calls("sendMediaGroup", group)[-1]
    done = await world.fake.wait_for(
        "editMessageText", lambda c: c.params["text"].startswith("Reindex finished")
    )

    edits = world.fake.calls("editMessageText", group)
    assert started.params["text"] == "Reindexing started…"
    assert refused.params["text"] == "A reindex of this group is already running."
    assert {edit.params["message_id"] for edit in edits} == {started.result["message_id"]}
    assert re.fullmatch(
        r"Reindexing: [1-6]/6 · [\d.]+ pictures/s · about \d+s left", edits[0].params["text"]
    )
    assert re.fullmatch(r"Reindex finished: 6 pictures in \ds, 0 failed\.", done.params["text"])
    assert album.at < done.at and len(answered) >= 2


async def test_ids_in_admin_ids_may_use_admin_commands_in_any_group(
    new_world: WorldFactory, fake: FakeTelegram, held_out_pictures: list[Picture]
) -> None:
    operator = fake.add_user("Operator")
    world = new_world(admin_ids=[operator.id])
    async with world.running():
        group, _, _, _ = await group_with_pictures(world, held_out_pictures)

        fake.send_text(group, operator, "/reindex")
        started = await world.text_in(group)
        await fake.wait_for("editMessageText", lambda c: c.params["text"].startswith("Reindex fin"))

    assert started.params["text"] == "Reindexing started…"


async def test_stats_reports_what_is_indexed(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice, _, _ = await group_with_pictures(world, held_out_pictures)

    world.fake.send_text(group, alice, "/stats")
    text = (await world.text_in(group)).params["text"]

    assert text.startswith(
        "Pictures: 6\nReposts: 0\nTags: 0\nWaiting: 0\nFailed: 0\nModel: tiny-clip"
    )
    assert "Index: Flat, 6 vectors, " in text
    assert "Read for words: 0 (0 with words, 6 not read: reading is off)" in text


async def test_the_poster_may_forget_a_picture_and_it_is_never_shown_again(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice, _, posted = await group_with_pictures(world, held_out_pictures)
    victim = posted[0]

    world.fake.send_text(group, alice, "/forget", reply_to=victim.message_id)
    reply = await world.text_in(group)
    shown = await search_file_ids(world, group, alice, RED_CIRCLE)

    assert reply.params["text"] == "Done: I forgot 1 picture(s)."
    assert victim.file_id not in shown
    assert await world.indexed_count(group) == 5


async def test_only_the_poster_or_an_admin_may_forget_a_picture(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice, bob, posted = await group_with_pictures(world, held_out_pictures)
    carol = world.fake.add_user("Carol")
    alices, bobs = posted[0], posted[3]

    world.fake.send_text(group, carol, "/forget", reply_to=alices.message_id)
    refused = await world.text_in(group)
    world.fake.send_text(group, alice, "/forget", reply_to=bobs.message_id)
    refused_too = await world.text_in(group)
    world.fake.send_text(group, bob, "/forget", reply_to=alices.message_id)
    allowed = await world.text_in(group)

    assert refused.params["text"] == "Only the person who posted it or an admin can do that."
    assert refused_too.params["text"] == refused.params["text"]
    assert allowed.params["text"] == "Done: I forgot 1 picture(s)."
    assert await world.indexed_count(group) == 5


async def test_forget_needs_a_reply_to_a_picture(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice, _, _ = await group_with_pictures(world, held_out_pictures)

    world.fake.send_text(group, alice, "/forget")

    assert (await world.text_in(group)).params["text"].startswith("Reply /forget to the picture")


async def test_optout_forgets_the_callers_pictures_and_optin_resumes_indexing(
    world: BotWorld, held_out_pictures: list[Picture]
) -> None:
    group, alice, bob, posted = await group_with_pictures(world, held_out_pictures)
    more_circles = pictures_of(held_out_pictures, RED_CIRCLE)[3:5]

    world.fake.send_text(group, alice, "/optout")
    opted_out = await world.text_in(group)
    world.post_photo(group, alice, more_circles[0])
    world.fake.send_text(group, bob, f"/search {RED_CIRCLE}")
    shown = {s.file_id for s in await world.pictures_in(group)}
    world.fake.send_text(group, alice, "/optin")
    opted_in = await world.text_in(group)
    world.post_photo(group, alice, more_circles[1])
    await world.until_indexed(group, 4)

    assert opted_out.params["text"].startswith("Done: I forgot 3 of your pictures here")
    assert opted_in.params["text"] == "OK: I'll index the pictures you post here again."
    assert not shown & {p.file_id for p in posted[:3]}
    assert await world.indexed_count(group) == 4


async def test_group_commands_in_a_private_chat_say_where_they_work(world: BotWorld) -> None:
    alice = world.fake.add_user("Alice")
    private = world.fake.private_chat(alice)

    world.fake.send_text(private, alice, "/reindex")
    reply = await world.text_in(private)
    world.fake.send_text(private, alice, "/frobnicate")
    unknown = await world.text_in(private)

    assert reply.params["text"] == "Use this command in a group."
    assert unknown.params["text"].startswith("I don't know that command.")
    assert not world.fake.calls("getChatAdministrators")
