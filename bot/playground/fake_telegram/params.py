"""Reading a Bot API request into typed parameters, the way Telegram reads it.

python-telegram-bot v22 (``HTTPXRequest``) always POSTs. Without files it sends an
``application/x-www-form-urlencoded`` form; with files, ``multipart/form-data`` where each file
is a part with a filename. Either way every value is a string: strings as they are, anything
else JSON-encoded (``reply_markup``, ``media``, ``results``, numbers, booleans). Files that
the API lets you reference (album items) are named in the JSON as ``attach://<part name>``.
Other clients may send a JSON body or a query string; those are accepted too.

Like Telegram, the fake decodes by parameter name, so a text of ``"123"`` stays a string.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import bad_request

JSON_FIELDS = frozenset(
    {
        "allowed_updates",
        "button",
        "caption_entities",
        "commands",
        "entities",
        "link_preview_options",
        "media",
        "reply_markup",
        "reply_parameters",
        "results",
        "scope",
    }
)
BOOLEAN_FIELDS = frozenset(
    {
        "allow_sending_without_reply",
        "disable_notification",
        "disable_web_page_preview",
        "drop_pending_updates",
        "has_spoiler",
        "is_personal",
        "protect_content",
        "show_alert",
        "show_caption_above_media",
    }
)
NUMBER_FIELDS = frozenset(
    {
        "cache_time",
        "limit",
        "max_connections",
        "message_id",
        "message_thread_id",
        "offset",
        "reply_to_message_id",
        "timeout",
        "until_date",
        "user_id",
    }
)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class Upload:
    """A file uploaded with the request (a multipart part that has a filename)."""

    data: bytes
    filename: str | None
    content_type: str | None


class Params:
    """The decoded parameters of one call; uploads sit under their part names."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def require(self, name: str, error: str | None = None) -> Any:
        """The value, or a 400 with ``error`` (Telegram's wording) when it is missing."""
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request(error or f'parameter "{name}" is required')
        return value

    def resolve(self, value: Any) -> Any:
        """Follows an ``attach://name`` reference to the uploaded part; other values pass."""
        if isinstance(value, str) and value.startswith("attach://"):
            upload = self.values.get(value.removeprefix("attach://"))
            if not isinstance(upload, Upload):
                raise bad_request(f"file {value} not found in the request")
            return upload
        return value


async def read_params(request: web.Request) -> Params:
    """Parses query string, form or multipart body, or JSON body into ``Params``."""
    raw: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("request body must be a JSON object")
        raw.update(body)
    elif request.content_type in _FORM_TYPES:
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                raw[name] = Upload(value.file.read(), value.filename, value.content_type)
            else:
                raw[name] = value
    return Params({name: _decode(name, value) for name, value in raw.items()})


def _decode(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None
    if name in BOOLEAN_FIELDS:
        return value.lower() in ("true", "1")
    if name in NUMBER_FIELDS or name == "chat_id":
        return _number(value)
    return value


def _number(value: str) -> int | float | str:
    """``"42"`` → 42, ``"0.5"`` → 0.5; anything else (``@channel``) stays a string."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value
