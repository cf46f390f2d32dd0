"""Message entities: what Telegram marks up in users' texts and parses out of the bot's HTML.

Offsets and lengths are counted in UTF-16 code units, as the Bot API does; python-telegram-bot
relies on that when it slices ``message.text`` with ``parse_entity``.

Only ``parse_mode="HTML"`` is parsed (strictly, so that an unescaped ``<`` in a caption fails
here as it fails on Telegram). Markdown and MarkdownV2 texts are kept as sent, without entities.
"""

import html
import re
from typing import Any

from .errors import ApiError, bad_request

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w@])")
_MENTION = re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{4,32}(?!\w)")

_TOKEN = re.compile(r"<[^<>]*>|&#?\w+;|[^<&]+|[<&]")
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^>]*)?>")
_ATTR = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_ESCAPES = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"'}
_TAG_KINDS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
}


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def user_text_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram adds to a text a user types: a leading ``/command`` and @mentions."""
    entities: list[dict[str, Any]] = []
    command = _COMMAND.match(text)
    if command:
        entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(command[0])})
    for mention in _MENTION.finditer(text):
        if command and mention.start() < command.end():
            continue
        entities.append(
            {
                "type": "mention",
                "offset": utf16_len(text[: mention.start()]),
                "length": utf16_len(mention[0]),
            }
        )
    return entities


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Splits Bot API HTML into plain text and entities, failing like Telegram on bad markup.

    Raises a 400 ``can't parse entities`` for unsupported or unbalanced tags and for a raw
    ``<`` that does not start a tag.
    """
    parser = _HtmlParser(source)
    return parser.parse()


class _HtmlParser:
    """One pass over a source string; kept as a class so the state is named, not threaded."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._text: list[str] = []
        self._length = 0
        self._open: list[tuple[str, int, dict[str, Any]]] = []
        self._entities: list[dict[str, Any]] = []

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        for token in _TOKEN.finditer(self._source):
            piece = token[0]
            if piece.startswith("<"):
                self._tag(piece, self._byte_offset(token.start()))
            elif piece.startswith("&"):
                self._add_text(_unescape(piece))
            else:
                self._add_text(piece)
        if self._open:
            name = self._open[-1][0]
            raise _cannot_parse(f'Can\'t find end tag corresponding to start tag "{name}"')
        self._entities.sort(key=lambda entity: entity["offset"])
        return "".join(self._text), self._entities

    def _byte_offset(self, index: int) -> int:
        return len(self._source[:index].encode())

    def _add_text(self, text: str) -> None:
        self._text.append(text)
        self._length += utf16_len(text)

    def _tag(self, piece: str, offset: int) -> None:
        tag = _TAG.fullmatch(piece)
        if tag is None:
            raise _cannot_parse(f'Unsupported start tag "" at byte offset {offset}')
        closing, name, attr_text = tag[1] == "/", tag[2].lower(), tag[3] or ""
        if closing:
            self._close(name, offset)
            return
        if name not in _TAG_KINDS:
            raise _cannot_parse(f'Unsupported start tag "{name}" at byte offset {offset}')
        attrs = {
            match[1].lower(): html.unescape(match[2] or match[3] or match[4] or "")
            for match in _ATTR.finditer(attr_text)
        }
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _cannot_parse(f'Unsupported start tag "span" at byte offset {offset}')
        self._open.append((name, self._length, attrs))

    def _close(self, name: str, offset: int) -> None:
        if not self._open or self._open[-1][0] != name:
            expected = f'"</{self._open[-1][0]}>"' if self._open else "nothing"
            raise _cannot_parse(
                f'Unmatched end tag at byte offset {offset}, expected {expected}, found "</{name}>"'
            )
        _, start, attrs = self._open.pop()
        language = attrs.get("class", "").removeprefix("language-")
        if name == "code" and self._open and self._open[-1][0] == "pre" and language:
            self._open[-1][2]["language"] = language
            return
        if self._length > start:
            self._entities.append(_entity(name, attrs, start, self._length - start))


def _entity(name: str, attrs: dict[str, str], offset: int, length: int) -> dict[str, Any]:
    entity: dict[str, Any] = {"type": _TAG_KINDS[name], "offset": offset, "length": length}
    if name == "a":
        entity["url"] = attrs.get("href", "")
    elif name == "pre" and "language" in attrs:
        entity["language"] = attrs["language"]
    elif name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    return entity


def _unescape(reference: str) -> str:
    if reference in _ESCAPES:
        return _ESCAPES[reference]
    try:
        if reference.startswith("&#x"):
            return chr(int(reference[3:-1], 16))
        if reference.startswith("&#"):
            return chr(int(reference[2:-1]))
    except ValueError:
        pass
    return reference


def _cannot_parse(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")
