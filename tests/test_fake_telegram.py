"""The fake Bot API server answers python-telegram-bot v22 the way Telegram does.

These run a real ``telegram.Bot`` (and one real ``Application``) over HTTP against
``FakeTelegram``, so what passes here is what the bot's end-to-end tests can rely on.
"""

import asyncio
import io
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from PIL import Image
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputMediaPhoto,
    InputTextMessageContent,
    Update,
)
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bot.playground.fake_telegram import FakeTelegram


def png(width: int = 640, height: int = 480, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as client:
        yield client


async def test_get_me_describes_the_configured_bot(bot: Bot, fake: FakeTelegram) -> None:
    me = await bot.get_me()

    assert me.id == fake.bot_user.id
    assert me.username == "clip_search_bot"
    assert me.can_read_all_group_messages is True
    assert me.supports_inline_queries is True


async def test_send_message_is_recorded_and_answered_as_a_message(
    bot: Bot, fake: FakeTelegram
) -> None:
    group = fake.add_group("Holiday pics")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])

    sent = await bot.send_message(
        group.id, "<b>3 matches</b> for &lt;cat&gt;", parse_mode="HTML", reply_markup=keyboard
    )

    assert sent.text == "3 matches for <cat>"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == len("3 matches")
    assert sent.from_user.id == fake.bot_user.id and sent.chat.id == group.id
    assert sent.reply_markup == keyboard
    call = await fake.wait_for("sendMessage")
    assert call.chat_id == group.id
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "more:1"
    assert fake.world.message(group.id, sent.message_id)["text"] == sent.text


async def test_string_parameters_stay_strings_even_when_they_look_like_json(
    bot: Bot, fake: FakeTelegram
) -> None:
    alice = fake.add_user("Alice")

    sent = await bot.send_message(fake.private_chat(alice).id, "123")

    assert sent.text == "123"


async def test_get_updates_long_poll_returns_an_injected_update_quickly(
    bot: Bot, fake: FakeTelegram
) -> None:
    group = fake.add_group()
    alice = fake.add_user("Alice")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    started = time.monotonic()

    fake.send_text(group, alice, "/search@clip_search_bot red bicycle")
    updates = await poll

    assert time.monotonic() - started < 1
    message = updates[0].message
    assert message.text == "/search@clip_search_bot red bicycle"
    assert message.parse_entities(["bot_command"]).popitem()[1] == "/search@clip_search_bot"


async def test_offset_confirms_earlier_updates(bot: Bot, fake: FakeTelegram) -> None:
    alice = fake.add_user("Alice")
    chat = fake.private_chat(alice)
    fake.send_text(chat, alice, "one")
    fake.send_text(chat, alice, "two")

    first = await bot.get_updates()
    again = await bot.get_updates()
    confirmed = await bot.get_updates(offset=first[-1].update_id + 1)

    assert [u.message.text for u in first] == ["one", "two"]
    assert [u.update_id for u in again] == [u.update_id for u in first]
    assert confirmed == ()
    await fake.wait_until_updates_consumed(timeout=0.1)


async def test_photo_download_gives_back_the_original_bytes(bot: Bot, fake: FakeTelegram) -> None:
    group = fake.add_group()
    alice = fake.add_user("Alice")
    original = png(1000, 600)
    fake.send_photo(group, alice, original, caption="our cat")

    (update,) = await bot.get_updates()
    sizes = update.message.photo
    file = await bot.get_file(sizes[-1].file_id)

    assert len(sizes) > 1 and sizes[0].width == 90
    assert (sizes[-1].width, sizes[-1].height) == (1000, 600)
    assert update.message.caption == "our cat"
    assert bytes(await file.download_as_bytearray()) == original


async def test_corrupt_photo_is_delivered_and_downloads_as_sent(
    bot: Bot, fake: FakeTelegram
) -> None:
    alice = fake.add_user("Alice")
    fake.send_photo(fake.private_chat(alice), alice, b"not a picture")

    (update,) = await bot.get_updates()
    file = await bot.get_file(update.message.photo[-1].file_id)

    assert bytes(await file.download_as_bytearray()) == b"not a picture"


async def test_get_file_refuses_files_over_20_megabytes(bot: Bot, fake: FakeTelegram) -> None:
    alice = fake.add_user("Alice")
    fake.send_document(
        fake.private_chat(alice), alice, png(), "huge.png", "image/png", file_size=25_000_000
    )

    (update,) = await bot.get_updates()

    assert update.message.document.file_size == 25_000_000
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(update.message.document.file_id)


async def test_send_media_group_returns_one_message_per_item(bot: Bot, fake: FakeTelegram) -> None:
    group = fake.add_group()
    alice = fake.add_user("Alice")
    fake.send_photo(group, alice, png(color="blue"))
    (update,) = await bot.get_updates()
    known_id = update.message.photo[-1].file_id

    album = await bot.send_media_group(
        group.id,
        [
            InputMediaPhoto(known_id, caption="best match"),
            InputMediaPhoto(png(color="green")),
            InputMediaPhoto(png(color="yellow")),
        ],
    )

    assert [m.message_id for m in album] == [2, 3, 4]
    assert len({m.media_group_id for m in album}) == 1
    assert album[0].caption == "best match" and album[1].caption is None
    assert album[0].photo[-1].file_id == known_id
    call = await fake.wait_for("sendMediaGroup")
    uploaded = call.params[call.params["media"][1]["media"].removeprefix("attach://")]
    assert uploaded.data == png(color="green")


async def test_replies_carry_the_replied_message_and_forwards_their_origin(
    bot: Bot, fake: FakeTelegram
) -> None:
    group = fake.add_group()
    alice = fake.add_user("Alice")
    news = fake.add_channel("News")
    shown = await bot.send_photo(group.id, png(), caption="match 1")

    fake.send_text(group, alice, "/forget", reply_to=shown.message_id)
    fake.send_photo(group, alice, png(), forward_from=news)
    forget, forwarded = await bot.get_updates()

    assert forget.message.reply_to_message.from_user.id == fake.bot_user.id
    assert forget.message.reply_to_message.photo[-1].file_id == shown.photo[-1].file_id
    assert forwarded.message.forward_origin.chat.id == news.id


async def test_albums_stickers_videos_and_joins_parse_as_ptb_objects(
    bot: Bot, fake: FakeTelegram
) -> None:
    group = fake.add_group(bot_status="left")
    alice = fake.add_user("Alice")

    fake.bot_added(group, alice)
    album_ids = fake.send_album(group, alice, [png(color="red"), png(color="blue")], caption="trip")
    fake.send_sticker(group, alice)
    fake.send_video(group, alice)
    joined, service, first, second, sticker, video = await bot.get_updates()

    assert joined.my_chat_member.new_chat_member.status == "member"
    assert service.message.new_chat_members[0].id == fake.bot_user.id
    assert album_ids == [first.message.message_id, second.message.message_id]
    assert first.message.media_group_id == second.message.media_group_id
    assert (first.message.caption, second.message.caption) == ("trip", None)
    assert sticker.message.sticker is not None and video.message.video is not None


# PTB 22 warns inside RetryAfter itself that retry_after becomes a timedelta (PTB_TIMEDELTA=1).
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_injected_429_surfaces_as_retry_after(bot: Bot, fake: FakeTelegram) -> None:
    alice = fake.add_user("Alice")
    fake.fail_next("sendMessage", 429, retry_after=3)

    with pytest.raises(RetryAfter, match="3"):
        await bot.send_message(fake.private_chat(alice).id, "hello")
    await bot.send_message(fake.private_chat(alice).id, "hello again")

    assert [call.ok for call in fake.calls("sendMessage")] == [False, True]


async def test_outage_answers_500_which_ptb_reports_as_network_error(
    bot: Bot, fake: FakeTelegram
) -> None:
    with fake.outage(500), pytest.raises(NetworkError, match="Internal Server Error"):
        await bot.get_me()

    assert (await bot.get_me()).username == "clip_search_bot"


async def test_unknown_method_answers_404(bot: Bot, fake: FakeTelegram) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendHologram")

    assert fake.calls("sendHologram")[0].error.status == 404


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    intruder = Bot("123:wrong", base_url=fake.base_url, base_file_url=fake.base_file_url)

    # Initializing calls getMe; on failure ``async with`` also closes the HTTP clients.
    with pytest.raises(InvalidToken, match="rejected"):
        async with intruder:
            pass


async def test_limits_are_checked_like_telegram(bot: Bot, fake: FakeTelegram) -> None:
    group = fake.add_group()
    too_long_data = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])

    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(group.id, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_photo(group.id, png(), caption="x" * 1025)
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(group.id, "pick", reply_markup=too_long_data)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(group.id, "1 < 2 <b>unclosed", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(-1009999, "anyone?")


async def test_edits_must_change_something(bot: Bot, fake: FakeTelegram) -> None:
    group = fake.add_group()
    sent = await bot.send_message(group.id, "searching…")

    edited = await bot.edit_message_text("found 2", chat_id=group.id, message_id=sent.message_id)

    assert edited.text == "found 2" and edited.edit_date is not None
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("found 2", chat_id=group.id, message_id=sent.message_id)


async def test_button_press_and_inline_query_are_answered_once(
    bot: Bot, fake: FakeTelegram
) -> None:
    group = fake.add_group()
    alice = fake.add_user("Alice")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more")]])
    sent = await bot.send_message(group.id, "results", reply_markup=keyboard)
    fake.press_button(group, alice, sent.message_id, "more")
    fake.inline_query(alice, "sunset")

    press, inline = await bot.get_updates()
    await press.callback_query.answer("loading")
    await inline.inline_query.answer(
        [InlineQueryResultArticle("1", "Sunset", InputTextMessageContent("sunset"))]
    )

    assert press.callback_query.message.message_id == sent.message_id
    assert fake.world.callback_answers[press.callback_query.id]["text"] == "loading"
    assert fake.world.inline_answers[inline.inline_query.id]["results"][0]["id"] == "1"
    with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
        await press.callback_query.answer()


async def test_memberships_and_removal_of_the_bot(bot: Bot, fake: FakeTelegram) -> None:
    group = fake.add_group()
    owner, stranger = fake.add_user("Olga"), fake.add_user("Sam")
    fake.set_member(group, owner, "creator")

    admins = await bot.get_chat_administrators(group.id)
    stranger_status = (await bot.get_chat_member(group.id, stranger.id)).status
    fake.bot_removed(group, owner)
    (update,) = await bot.get_updates()

    assert [a.user.id for a in admins] == [owner.id]
    assert stranger_status == "left"
    assert update.my_chat_member.new_chat_member.status == "kicked"
    with pytest.raises(Forbidden, match="kicked"):
        await bot.send_message(group.id, "still here?")


async def test_privacy_mode_hides_plain_group_messages(fake: FakeTelegram) -> None:
    fake.world.bot.can_read_all_group_messages = False
    group = fake.add_group()
    alice = fake.add_user("Alice")

    fake.send_photo(group, alice, png())
    fake.send_text(group, alice, "/search cat")

    assert [u["message"].get("text") for u in fake.world.updates.pending] == ["/search cat"]


async def test_real_application_receives_text_and_photo_and_replies(fake: FakeTelegram) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    async def measure(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        file = await update.effective_message.photo[-1].get_file()
        data = await file.download_as_bytearray()
        await update.effective_message.reply_text(f"{len(data)} bytes")

    app = (
        Application.builder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.add_handler(MessageHandler(filters.PHOTO, measure))
    group = fake.add_group()
    alice = fake.add_user("Alice")
    picture = png(800, 800)

    async with app:
        await app.start()
        await app.updater.start_polling()
        try:
            text_id = fake.send_text(group, alice, "hello bot")
            fake.send_photo(group, alice, picture)
            echo_call = await fake.wait_for("sendMessage", lambda c: "echo" in c.params["text"])
            size_call = await fake.wait_for("sendMessage", lambda c: "bytes" in c.params["text"])
            await fake.wait_until_updates_consumed(timeout=2)
        finally:
            await app.updater.stop()
            await app.stop()

    assert echo_call.params["text"] == "echo: hello bot"
    assert echo_call.result["reply_to_message"]["message_id"] == text_id
    assert size_call.params["text"] == f"{len(picture)} bytes"
    assert [c.method for c in fake.calls()][:2] == ["getMe", "deleteWebhook"]


@pytest.mark.parametrize("host", ["evil.test:{port}", "127.0.0.1:{other}", "localhost", "[::1]"])
async def test_requests_addressed_to_another_host_are_refused(
    bot: Bot, fake: FakeTelegram, host: str
) -> None:
    """A page elsewhere that rebinds its name to 127.0.0.1 must not reach the fixed token."""
    port = fake.port
    assert port is not None
    named = host.format(port=port, other=port + 1 if port < 65535 else port - 1)

    async with aiohttp.ClientSession() as session:
        answer = await session.post(
            f"{fake.base_url}{fake.token}/sendMessage",
            data={"chat_id": "1", "text": "rebound"},
            headers={"Host": named},
        )
        assert answer.status == 403
        assert (await answer.json())["ok"] is False
        downloaded = await session.get(
            f"{fake.base_file_url}{fake.token}/x", headers={"Host": named}
        )
        assert downloaded.status == 403

    assert fake.calls("sendMessage") == []
    assert (await bot.get_me()).username == "clip_search_bot"


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
async def test_the_loopback_names_with_the_port_are_served(fake: FakeTelegram, name: str) -> None:
    async with aiohttp.ClientSession() as session:
        answer = await session.post(
            f"{fake.base_url}{fake.token}/getMe", headers={"Host": f"{name}:{fake.port}"}
        )
        assert answer.status == 200
        assert (await answer.json())["ok"] is True
