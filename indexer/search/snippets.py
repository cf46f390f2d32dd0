"""The words around a match: what a result shows of a long text read in a picture."""

from __future__ import annotations

#: How many characters of the words read in a picture a result shows.
SNIPPET_CHARS = 60


def words_around(text: str, query: str, most: int = SNIPPET_CHARS) -> str:
    """``text`` on one line, cut to about ``most`` characters around where the query (or
    else its first word that occurs) is found, with "…" where it was cut.

    A screenshot or a menu carries hundreds of words; the person who searched wants to see
    the ones that matched, not the first line.
    """
    flat = " ".join(text.split())
    if len(flat) <= most:
        return flat
    lowered = flat.lower()
    at = -1
    if len(lowered) == len(flat):  # else positions in the lowered copy do not map back
        for part in (query, *query.split()):
            at = lowered.find(part.lower()) if part else -1
            if at >= 0:
                break
    start = max(0, at - most // 3)
    end = min(len(flat), start + most)
    start = max(0, end - most)
    return ("…" if start > 0 else "") + flat[start:end] + ("…" if end < len(flat) else "")
