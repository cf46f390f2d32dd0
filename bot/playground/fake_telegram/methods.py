"""The Bot API methods the fake answers, each checked the way Telegram checks it.

Every method takes the ``World`` and the call's ``Params`` and returns the ``result`` of a
successful answer, or raises ``ApiError`` with Telegram's status and wording. Method names
are matched case-insensitively, as Telegram does.

Length (over ~350 lines, on purpose): one short function per Bot API method, so the table at
the end lists every method the fake knows in one place.
"""

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .content import (
    MEDIA_KINDS,
    caption_content,
    document_object,
    markup_content,
    media_content,
    media_object,
    photo_sizes,
    text_content,
)
from .errors import ApiError, bad_request, forbidden
from .params import Params
from .state import ADMIN_STATUSES, PRESENT_STATUSES, Chat, World, now

MAX_INLINE_RESULTS = 50
ALBUM_SIZE = range(2, 11)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"

Handler = Callable[[World, Params], Any]


@dataclass(frozen=True)
class Method:
    name: str
    handler: Handler


METHODS: dict[str, Method] = {}


def api_method(name: str) -> Callable[[Handler], Handler]:
    """Registers a handler under its Bot API name (looked up lower-cased)."""

    def register(handler: Handler) -> Handler:
        METHODS[name.lower()] = Method(name, handler)
        return handler

    return register


async def call_method(method: Method, world: World, params: Params) -> Any:
    """Runs a handler; only getUpdates is a coroutine, the rest answer at once."""
    result = method.handler(world, params)
    if inspect.isawaitable(result):
        result = await result
    return result


# Bot and updates


@api_method("getMe")
def get_me(world: World, params: Params) -> Any:
    return world.bot.to_api()


@api_method("getUpdates")
async def get_updates(world: World, params: Params) -> Any:
    if world.webhook is not None:
        raise ApiError(
            409,
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first",
        )
    return await world.updates.fetch(
        offset=params.get("offset"),
        limit=params.get("limit", 100),
        timeout=params.get("timeout", 0),
        allowed_updates=params.get("allowed_updates"),
    )


@api_method("setWebhook")
def set_webhook(world: World, params: Params) -> Any:
    url = params.get("url", "")
    if not url:
        return delete_webhook(world, params)
    if not url.startswith("https://"):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if params.get("drop_pending_updates"):
        world.updates.drop_all()
    world.webhook = dict(params.values)
    return True


@api_method("deleteWebhook")
def delete_webhook(world: World, params: Params) -> Any:
    world.webhook = None
    if params.get("drop_pending_updates"):
        world.updates.drop_all()
    return True


@api_method("getWebhookInfo")
def get_webhook_info(world: World, params: Params) -> Any:
    webhook = world.webhook or {}
    info: dict[str, Any] = {
        "url": webhook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": len(world.updates.pending),
    }
    for name in ("max_connections", "allowed_updates"):
        if name in webhook:
            info[name] = webhook[name]
    return info


def _commands_key(params: Params) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    return (json.dumps(scope, sort_keys=True), params.get("language_code", ""))


@api_method("setMyCommands")
def set_my_commands(world: World, params: Params) -> Any:
    commands = params.require("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    for command in commands:
        name = str(command.get("command", ""))
        if not (1 <= len(name) <= 32 and name.replace("_", "").isalnum() and name.islower()):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    world.commands[_commands_key(params)] = commands
    return True


@api_method("getMyCommands")
def get_my_commands(world: World, params: Params) -> Any:
    return world.commands.get(_commands_key(params), [])


@api_method("deleteMyCommands")
def delete_my_commands(world: World, params: Params) -> Any:
    world.commands.pop(_commands_key(params), None)
    return True


# Sending


def _joined_chat(world: World, params: Params) -> Chat:
    """The target chat, refused like Telegram when the bot is not (or no more) in it."""
    chat = world.chat(params.get("chat_id"))
    if chat.type == "private":
        return chat
    status = world.status(chat.id, world.bot.user.id)
    if status == "kicked":
        raise forbidden(f"bot was kicked from the {chat.type} chat")
    if status not in PRESENT_STATUSES:
        raise forbidden(f"bot is not a member of the {chat.type} chat")
    return chat


def _writable_chat(world: World, params: Params) -> Chat:
    """The target chat of a send, refused also when a private chat's user blocked the bot."""
    chat = _joined_chat(world, params)
    if chat.type == "private" and world.users[chat.id].blocked_bot:
        raise forbidden("bot was blocked by the user")
    return chat


def _reply_target(world: World, chat: Chat, params: Params) -> dict[str, Any] | None:
    reply = params.get("reply_parameters")
    if reply is None and params.get("reply_to_message_id") is not None:
        reply = {"message_id": params.get("reply_to_message_id")}
    if reply is None:
        return None
    target_chat = world.chat(reply["chat_id"]) if "chat_id" in reply else chat
    message = world.message(target_chat.id, reply.get("message_id"))
    if message is None and not (
        reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply")
    ):
        raise bad_request("message to be replied not found")
    return message


def _deliver(world: World, chat: Chat, params: Params, content: dict[str, Any]) -> Any:
    """Stores the bot's message with its keyboard and reply, and returns it as sent."""
    content = {**content, **markup_content(params.get("reply_markup"))}
    reply_to = _reply_target(world, chat, params)
    return world.new_message(chat, world.bot.user, content, reply_to)


@api_method("sendMessage")
def send_message(world: World, params: Params) -> Any:
    chat = _writable_chat(world, params)
    return _deliver(world, chat, params, text_content(params))


@api_method("sendPhoto")
def send_photo(world: World, params: Params) -> Any:
    chat = _writable_chat(world, params)
    photo = params.resolve(params.require("photo", "there is no photo in the request"))
    content = {"photo": photo_sizes(world, photo), **caption_content(params)}
    return _deliver(world, chat, params, content)


@api_method("sendDocument")
def send_document(world: World, params: Params) -> Any:
    chat = _writable_chat(world, params)
    document = params.resolve(params.require("document", "there is no document in the request"))
    content = {"document": document_object(world, document), **caption_content(params)}
    return _deliver(world, chat, params, content)


def _send_media(kind: str) -> Callable[[World, Params], Any]:
    """sendVideo, sendAnimation, sendVideoNote, sendSticker: a file Telegram holds, by id.

    A video note and a sticker take no caption; an animation is also its document, as in
    Telegram's messages.
    """

    def send(world: World, params: Params) -> Any:
        chat = _writable_chat(world, params)
        value = params.resolve(params.require(kind, f"there is no {kind} in the request"))
        content = media_content(kind, media_object(world, value, kind))
        if kind in ("video", "animation"):
            content.update(caption_content(params))
        return _deliver(world, chat, params, content)

    return send


for _kind in MEDIA_KINDS:
    api_method("send" + "".join(part.title() for part in _kind.split("_")))(_send_media(_kind))


@api_method("sendMediaGroup")
def send_media_group(world: World, params: Params) -> Any:
    chat = _writable_chat(world, params)
    media = params.require("media", 'parameter "media" can\'t be empty')
    if not isinstance(media, list) or len(media) not in ALBUM_SIZE:
        raise bad_request("wrong number of media in the album: must be between 2 and 10")
    kinds = {item.get("type") for item in media}
    if not kinds <= {"photo", "video", "document"}:
        raise bad_request(f"unsupported media type in the album: {sorted(map(str, kinds))}")
    if "document" in kinds and len(kinds) > 1:
        raise bad_request("document can't be mixed with other media types")
    contents = []
    for item in media:
        value = params.resolve(item.get("media"))
        if item["type"] == "photo":
            body: Any = photo_sizes(world, value)
        elif item["type"] == "video":
            body = media_object(world, value, "video")
        else:
            body = document_object(world, value)
        contents.append({item["type"]: body, **caption_content(item)})
    reply_to = _reply_target(world, chat, params)
    group_id = str(10_000_000_000_000 + world.next_serial())
    return [
        world.new_message(chat, world.bot.user, {**content, "media_group_id": group_id}, reply_to)
        for content in contents
    ]


@api_method("sendChatAction")
def send_chat_action(world: World, params: Params) -> Any:
    _writable_chat(world, params)
    if params.get("action") not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


# Editing and deleting


def _own_message(world: World, params: Params, missing: str) -> tuple[Chat, dict[str, Any]]:
    chat = _joined_chat(world, params)
    message = world.message(chat.id, params.get("message_id"))
    if message is None:
        raise bad_request(missing)
    if not world.is_from_bot(message):
        raise bad_request("message can't be edited")
    return chat, message


def _store_edit(world: World, chat: Chat, old: dict[str, Any], new: dict[str, Any]) -> Any:
    if new == old:
        raise bad_request(_NOT_MODIFIED)
    new["edit_date"] = now()
    world.messages[(chat.id, new["message_id"])] = new
    return world.message(chat.id, new["message_id"])


def _without(message: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in message.items() if key not in keys}


@api_method("editMessageText")
def edit_message_text(world: World, params: Params) -> Any:
    content = text_content(params)
    markup = markup_content(params.get("reply_markup"))
    if params.get("inline_message_id"):
        return True
    chat, old = _own_message(world, params, "message to edit not found")
    if "text" not in old:
        raise bad_request("there is no text in the message to edit")
    new = {**_without(old, "text", "entities", "reply_markup"), **content, **markup}
    return _store_edit(world, chat, old, new)


@api_method("editMessageReplyMarkup")
def edit_message_reply_markup(world: World, params: Params) -> Any:
    markup = markup_content(params.get("reply_markup"))
    if params.get("inline_message_id"):
        return True
    chat, old = _own_message(world, params, "message to edit not found")
    return _store_edit(world, chat, old, {**_without(old, "reply_markup"), **markup})


@api_method("deleteMessage")
def delete_message(world: World, params: Params) -> Any:
    chat = _joined_chat(world, params)
    message = world.message(chat.id, params.get("message_id"))
    if message is None:
        raise bad_request("message to delete not found")
    bot_is_admin = world.status(chat.id, world.bot.user.id) in ADMIN_STATUSES
    if chat.is_group and not world.is_from_bot(message) and not bot_is_admin:
        raise bad_request("message can't be deleted")
    key = (chat.id, message["message_id"])
    del world.messages[key]
    world.deleted_messages.add(key)
    return True


# Answering queries


@api_method("answerCallbackQuery")
def answer_callback_query(world: World, params: Params) -> Any:
    query_id = params.get("callback_query_id")
    if query_id not in world.open_callback_queries:
        raise bad_request(_QUERY_INVALID)
    if len(params.get("text") or "") > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    del world.open_callback_queries[query_id]
    world.callback_answers[query_id] = dict(params.values)
    return True


@api_method("answerInlineQuery")
def answer_inline_query(world: World, params: Params) -> Any:
    query_id = params.get("inline_query_id")
    if query_id not in world.open_inline_queries:
        raise bad_request(_QUERY_INVALID)
    results = params.require("results")
    if not isinstance(results, list):
        raise bad_request("can't parse results JSON object")
    if len(results) > MAX_INLINE_RESULTS:
        raise bad_request("RESULTS_TOO_MUCH")
    seen: set[str] = set()
    for result in results:
        result_id = str(result.get("id", ""))
        if not result.get("type") or not 1 <= len(result_id.encode()) <= 64:
            raise bad_request("RESULT_ID_INVALID")
        if result_id in seen:
            raise bad_request("RESULT_ID_DUPLICATE")
        seen.add(result_id)
        for key in ("photo_file_id", "video_file_id", "gif_file_id", "sticker_file_id"):
            if key in result:
                world.file(result[key])
    if len(str(params.get("next_offset", "")).encode()) > 64:
        raise bad_request("NEXT_OFFSET_INVALID")
    del world.open_inline_queries[query_id]
    world.inline_answers[query_id] = dict(params.values)
    return True


# Files


@api_method("getFile")
def get_file(world: World, params: Params) -> Any:
    stored = world.file(params.get("file_id"))
    if stored.too_big:
        raise bad_request("file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
        "file_path": stored.file_path,
    }


# Chats and members


@api_method("getChat")
def get_chat(world: World, params: Params) -> Any:
    chat = world.chat(params.get("chat_id"))
    return {
        **chat.to_api(),
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            False,
        ),
    }


@api_method("getChatMember")
def get_chat_member(world: World, params: Params) -> Any:
    chat = world.chat(params.get("chat_id"))
    user_id = params.get("user_id")
    if user_id not in world.users:
        raise bad_request("user not found")
    return world.member_to_api(chat.id, user_id)


@api_method("getChatAdministrators")
def get_chat_administrators(world: World, params: Params) -> Any:
    chat = world.chat(params.get("chat_id"))
    if not chat.is_group:
        raise bad_request("there are no administrators in the private chat")
    return [
        world.member_to_api(chat.id, user_id)
        for user_id, status in world.members[chat.id].items()
        if status in ADMIN_STATUSES
    ]


@api_method("getChatMemberCount")
def get_chat_member_count(world: World, params: Params) -> Any:
    chat = world.chat(params.get("chat_id"))
    return sum(status in PRESENT_STATUSES for status in world.members[chat.id].values())


@api_method("leaveChat")
def leave_chat(world: World, params: Params) -> Any:
    chat = world.chat(params.get("chat_id"))
    if not chat.is_group:
        raise bad_request("chat member status can't be changed in private chats")
    if world.status(chat.id, world.bot.user.id) not in PRESENT_STATUSES:
        raise forbidden(f"bot is not a member of the {chat.type} chat")
    world.change_bot_status(chat, world.bot.user, "left")
    return True
