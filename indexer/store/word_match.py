"""When a caption or tag "contains" a query, or the query contains it: whole words only.

Matching plain substrings made a two-letter tag match almost every query ("re" is in "a red
circle", "an" in "a blue square"), and tag matches are never cut by the relevance margin.
So a text is found inside another only where it starts and ends on a word boundary. Scripts
written without spaces between words (Chinese, Japanese, Thai…) have no such boundaries, so
an edge in one of them may sit anywhere: "人民广场" is found in "人民广场夜景".
"""

from __future__ import annotations

#: Unicode blocks of scripts written without spaces between words.
_UNSPACED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3000, 0x9FFF),  # CJK punctuation, kana, CJK unified ideographs (and extension A)
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF),  # half- and full-width forms
    (0x20000, 0x3FFFF),  # CJK extensions B onwards
)


def is_unspaced(character: str) -> bool:
    """Whether the character belongs to a script written without spaces between words."""
    code = ord(character)
    return any(low <= code <= high for low, high in _UNSPACED_RANGES)


def contains_words(text: str, part: str) -> bool:
    """Whether ``part`` occurs in ``text`` starting and ending on word boundaries.

    Both are compared as given (callers case-fold them). An edge of ``part`` in an unspaced
    script needs no boundary; elsewhere the neighbouring character of ``text`` must not be a
    letter or digit, or must be of an unspaced script ("iphone" in "我的iphone手机").
    """
    if not part:
        return False
    start = text.find(part)
    while start >= 0:
        end = start + len(part)
        if _edge(part[0], text[start - 1] if start > 0 else "") and _edge(
            part[-1], text[end] if end < len(text) else ""
        ):
            return True
        start = text.find(part, start + 1)
    return False


def word_spans(text: str, most: int) -> set[str] | None:
    """Every part of ``text`` of two characters or more that :func:`contains_words` finds in
    it, or None when there are more than ``most`` (a long text in an unspaced script has one
    for nearly every pair of positions).

    A stored caption or tag is inside a query exactly when it is one of the query's spans, so
    looking the spans up in an index replaces testing every stored text.
    """
    starts = [i for i in range(len(text)) if _edge(text[i], text[i - 1] if i > 0 else "")]
    ends = [
        j for j in range(1, len(text) + 1) if _edge(text[j - 1], text[j] if j < len(text) else "")
    ]
    spans: set[str] = set()
    for i in starts:
        for j in ends:
            if j - i >= 2:
                spans.add(text[i:j])
                if len(spans) > most:
                    return None
    return spans


def _edge(inside: str, outside: str) -> bool:
    """Whether a match may end between ``inside`` (its own character) and ``outside``."""
    return not outside.isalnum() or is_unspaced(inside) or is_unspaced(outside)
