"""What the bot's messages contain, built and checked as Telegram builds and checks them.

Texts and captions are parsed (``parse_mode="HTML"``) and held to Telegram's limits; inline
keyboards are checked button by button; photos and documents become the objects a Message
carries, from an upload or from a file id Telegram already knows.
"""

import copy
from typing import Any

from .entities import parse_html
from .errors import bad_request
from .media import image_size
from .params import Params, Upload
from .state import World, extension_of

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64


def _formatted(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities, as Telegram stores a text sent with ``parse_mode``."""
    if parse_mode and parse_mode.upper() == "HTML":
        return parse_html(text)
    return text, entities or []


def text_content(params: Params) -> dict[str, Any]:
    """``text`` + ``entities`` of a message, checked against Telegram's limits."""
    text, entities = _formatted(
        params.get("text") or "", params.get("parse_mode"), params.get("entities")
    )
    if not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    content: dict[str, Any] = {"text": text}
    if entities:
        content["entities"] = entities
    return content


def caption_content(item: Params | dict[str, Any]) -> dict[str, Any]:
    """``caption`` + ``caption_entities`` of a media message or album item."""
    caption = item.get("caption")
    if not caption:
        return {}
    text, entities = _formatted(caption, item.get("parse_mode"), item.get("caption_entities"))
    if len(text) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    content: dict[str, Any] = {"caption": text}
    if entities:
        content["caption_entities"] = entities
    return content


def markup_content(markup: Any) -> dict[str, Any]:
    """The ``reply_markup`` a Message shows, after checking inline buttons like Telegram.

    Only inline keyboards are part of a Message; reply keyboards are accepted and dropped.
    """
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return {}
    for row in markup["inline_keyboard"]:
        for button in row:
            _check_button(button)
    return {"reply_markup": markup}


def _check_button(button: dict[str, Any]) -> None:
    actions = set(button) - {"text"}
    if not button.get("text") or not actions:
        raise bad_request("text buttons are unallowed in the inline keyboard")
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
        raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def photo_sizes(world: World, value: Any) -> list[dict[str, Any]]:
    """PhotoSize objects for a ``photo`` value: an upload, or a file id Telegram knows."""
    if isinstance(value, Upload):
        size = image_size(value.data)
        if size is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        width, height = size
        if width + height > 10_000 or max(width, height) > 20 * min(width, height):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        return world.register_photo(value.data)
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    stored = world.file(value)
    if stored.kind != "photo":
        raise bad_request("type of file mismatch")
    return copy.deepcopy(world.photo_sets[stored.file_id])


#: The kinds of file sent by file id only with a method of their own (sendVideo...).
MEDIA_KINDS = ("video", "animation", "video_note", "sticker")


def media_object(world: World, value: Any, kind: str) -> dict[str, Any]:
    """The API object of a video, animation, video note or sticker Telegram already holds.

    Only file ids are taken: the bot re-sends what was posted and never uploads clips, so the
    fake does not transcode uploads as Telegram would.
    """
    if isinstance(value, Upload):
        raise bad_request(f"the fake Telegram takes a {kind} by file id only")
    stored = world.file(value)
    if stored.kind != kind:
        raise bad_request("type of file mismatch")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
        **copy.deepcopy(stored.details),
    }


def media_content(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """What a message carries for a media object: an animation is also its document."""
    if kind != "animation":
        return {kind: body}
    drawn = ("width", "height", "duration")
    return {kind: body, "document": {k: v for k, v in body.items() if k not in drawn}}


def document_object(world: World, value: Any) -> dict[str, Any]:
    """A Document object for a ``document`` value: an upload or a known document file id."""
    if isinstance(value, Upload):
        name = value.filename or "document"
        stored = world.register_file(value.data, "document", extension_of(name))
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": name,
            "mime_type": value.content_type or "application/octet-stream",
            "file_size": stored.size,
        }
    stored = world.file(value)
    if stored.kind != "document":
        raise bad_request("type of file mismatch")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
    }
