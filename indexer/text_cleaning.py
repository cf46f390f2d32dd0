"""Text from outside (Telegram, the command line, files), cleaned once where it enters.

Strings can carry what no person typed on purpose and what breaks the layers below: a NUL ends
an FTS5 query string early (``unterminated string``), a lone UTF-16 surrogate cannot be encoded
as UTF-8 for SQLite or Telegram, a non-character or a control character has no meaning in a
caption, and a bidi override (U+202E) reverses every sentence the bot echoes it inside. So
every text is passed through :func:`clean_text` at the door it comes in by (the bot's update
parsing, the service's methods), and the code inside can trust it.

Line breaks and tabs stay (captions have them); left-to-right and right-to-left *marks*
(U+200E, U+200F) stay too: they only nudge neutral characters and are part of how Arabic and
Hebrew are typed.
"""

from __future__ import annotations

import re

#: The two non-characters at the end of every plane above the first (U+1FFFE, U+1FFFF, ...).
_PLANE_ENDS = "".join(chr(plane << 16 | end) for plane in range(1, 17) for end in (0xFFFE, 0xFFFF))
_UNWANTED = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # C0 and C1 controls, except tab, line feed, CR
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2066-\u2069"  # bidi isolates
    "\ud800-\udfff"  # surrogates: in a str, always lone
    "\ufdd0-\ufdef\ufffe\uffff"  # non-characters
    f"{_PLANE_ENDS}"
    "]"
)


def clean_text(text: str) -> str:
    """``text`` without control characters (but tab and line breaks), lone surrogates,
    non-characters and bidi overrides, embeddings and isolates."""
    return _UNWANTED.sub("", text)


def clean_optional(text: str | None) -> str | None:
    """:func:`clean_text` of a text that may be missing."""
    return None if text is None else clean_text(text)
