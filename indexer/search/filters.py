"""Reading a query's operators (``from:@ben after:2025-06 kind:video``) apart from its words.

A query is words to embed plus operators, each ``name:value`` with an ASCII or full-width colon
(``来自：@ben``) and a value right after it, up to the next space or ``，。；、！？``, or
quoted (``from:"Ben Smith"``); ``from: @ben`` is an operator without a value (a hint says so).
A Chinese spelling may follow the words with no space, as Chinese is written
(``红色的圆形来自：小明``). The operators and their Chinese spellings are in :data:`OPERATORS`;
their values:

- ``from:`` a poster's ``@username``, name or id; several mean any of them;
- ``after:``, ``before:``, ``on:`` a date ``2025-07-14``, a month ``2025-07`` or a year ``2025``
  (``/`` or ``.`` also separate them; ``2025年7月14日`` too), in UTC: ``after:`` from its
  start on, ``before:`` up to its start, ``on:`` within it;
- ``last:`` a period back from now, ``7d``, ``12h``, ``2w``, ``3m`` (30 days), ``1y`` (365
  days), or in Chinese ``7天``, ``2周``, ``3个月``, ``1年``, ``12小时``;
- ``kind:`` ``photo``, ``video`` (with round video notes), ``gif`` or ``sticker``;
- ``sort:new`` newest first among the good matches.

An operator that cannot be read is returned as a :class:`~indexer.records.QueryProblem`, so the
asker gets a hint instead of an empty result. A word with a colon is taken for an unknown
operator only when it looks like one: ASCII letters, a colon and a value with no space
(``colour:red``), not a link (``https://…``), not a time (``12:30``) and not Chinese prose
(``注意：红色`` stays words).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from indexer.records import ImageKind, ParsedQuery, QueryProblem, SearchFilters

#: Every spelling of an operator, lower case, and the operator it means.
OPERATORS: dict[str, str] = {
    "from": "from",
    "by": "from",
    "来自": "from",
    "发送者": "from",
    "after": "after",
    "since": "after",
    "之后": "after",
    "晚于": "after",
    "before": "before",
    "until": "before",
    "之前": "before",
    "早于": "before",
    "on": "on",
    "日期": "on",
    "last": "last",
    "最近": "last",
    "kind": "kind",
    "类型": "kind",
    "sort": "sort",
    "排序": "sort",
}

#: The Chinese spellings, longest first, for operators written right after the words.
_CHINESE_SPELLINGS = sorted(
    (spelling for spelling in OPERATORS if not spelling.isascii()), key=len, reverse=True
)

#: Every spelling of a kind and the stored kinds it matches (``images.kind``).
KINDS: dict[str, tuple[ImageKind, ...]] = {
    "photo": ("photo",),
    "picture": ("photo",),
    "照片": ("photo",),
    "图片": ("photo",),
    "video": ("video", "video_note"),
    "视频": ("video", "video_note"),
    "gif": ("gif",),
    "动图": ("gif",),
    "sticker": ("sticker",),
    "贴纸": ("sticker",),
}

#: Spellings of the one sort order there is besides the best match first.
NEWEST = ("new", "newest", "最新")

#: Seconds in one unit of a ``last:`` period.
_UNITS = {
    "h": 3600,
    "小时": 3600,
    "d": 86400,
    "天": 86400,
    "w": 7 * 86400,
    "周": 7 * 86400,
    "m": 30 * 86400,
    "月": 30 * 86400,
    "个月": 30 * 86400,
    "y": 365 * 86400,
    "年": 365 * 86400,
}

#: Chinese punctuation that ends a clause: it ends an operator's value too (``来自：小明，之后：
#: 2025-06`` is two operators) and may come before one, as a space does.
_STOPS = "，。；、！？"
_TOKEN = re.compile(
    rf"(?<![^\s{_STOPS}])(?P<name>[A-Za-z]+|[\u4e00-\u9fff]+)[:：]"
    rf"(?P<value>\"[^\"]*\"|“[^”]*”|[^\s\"“{_STOPS}]+)?[{_STOPS}]?"
)
_DATE = re.compile(
    r"(?P<y>\d{4})(?:[-/.](?P<m>\d{1,2})(?:[-/.](?P<d>\d{1,2}))?)?"
    r"|(?P<zy>\d{4})年(?:(?P<zm>\d{1,2})月(?:(?P<zd>\d{1,2})[日号]?)?)?"
)
_PERIOD = re.compile(r"(?P<n>\d{1,4})\s*(?P<unit>个月|小时|[a-z天周月年])")


class _Reading:
    """What the operators of one query say, gathered as they are read."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.posters: list[str] = []
        self.after: float | None = None
        self.before: float | None = None
        self.kinds: list[ImageKind] = []
        self.newest = False
        self.problems: list[QueryProblem] = []
        #: The date operators as written, for the hint when they leave no time between them.
        self.dates: list[str] = []

    def since(self, moment: float) -> None:
        self.after = moment if self.after is None else max(self.after, moment)

    def until(self, moment: float) -> None:
        self.before = moment if self.before is None else min(self.before, moment)

    def read(self, operator: str, value: str, token: str) -> None:
        """Applies one operator, or records why it cannot be used."""
        if not value:
            self.problems.append(QueryProblem("empty", token))
        elif operator == "from":
            self.posters.append(value)
        elif operator in ("after", "before", "on"):
            self._read_date(operator, value, token)
        elif operator == "last":
            self.dates.append(token)
            period = _PERIOD.fullmatch(value.lower())
            if period is None or period["unit"] not in _UNITS:
                self.problems.append(QueryProblem("bad_period", token))
            else:
                self.since(self.now - int(period["n"]) * _UNITS[period["unit"]])
        elif operator == "kind":
            kinds = KINDS.get(value.lower())
            if kinds is None:
                self.problems.append(QueryProblem("bad_kind", token))
            else:
                self.kinds += [kind for kind in kinds if kind not in self.kinds]
        elif value.lower() in NEWEST:
            self.newest = True
        else:
            self.problems.append(QueryProblem("bad_sort", token))

    def _read_date(self, operator: str, value: str, token: str) -> None:
        self.dates.append(token)
        span = date_span(value)
        if span is None:
            self.problems.append(QueryProblem("bad_date", token))
        elif operator == "after":
            self.since(span[0])
        elif operator == "before":
            self.until(span[0])
        else:
            self.since(span[0])
            self.until(span[1])

    def check_dates(self) -> None:
        """A problem when the dates leave no time between them (``after:2025-08 before:2025-07``):
        a hint, not a silent empty result."""
        if self.after is not None and self.before is not None and self.after >= self.before:
            self.problems.append(QueryProblem("no_dates", " ".join(self.dates)))

    def filters(self) -> SearchFilters:
        return SearchFilters(
            tuple(self.posters), self.after, self.before, tuple(self.kinds), self.newest
        )


def parse_query(text: str, now: float) -> ParsedQuery:
    """``text`` (cleaned already) read into its words and its operators, ``now`` being the
    Unix time ``last:`` counts back from."""
    reading = _Reading(now)
    words: list[str] = []
    position = 0
    for token in _TOKEN.finditer(text):
        operator = OPERATORS.get(token["name"].lower())
        value = (token["value"] or "").strip('"“”').strip()
        glued = None if operator is not None else _glued_operator(token["name"])
        if glued is not None:
            # Chinese is written without spaces: "红色的圆形来自：小明" is words, then 来自：小明.
            start = token.start("name") + len(token["name"]) - len(glued)
            words.append(text[position:start])
            reading.read(OPERATORS[glued], value, text[start : token.end()].rstrip(_STOPS))
            position = token.end()
            continue
        if operator is None:
            spaced = not token.start() or text[token.start() - 1].isspace()
            if spaced and _looks_like_operator(token["name"], token["value"]):
                words.append(text[position : token.start()])
                reading.problems.append(
                    QueryProblem("unknown_operator", token.group().rstrip(_STOPS))
                )
                position = token.end()
            continue
        words.append(text[position : token.start()].rstrip(_STOPS))
        reading.read(operator, value, token.group().strip().rstrip(_STOPS))
        position = token.end()
    words.append(text[position:])
    reading.check_dates()
    return ParsedQuery(
        " ".join(" ".join(words).split()), reading.filters(), tuple(reading.problems)
    )


def _glued_operator(name: str) -> str | None:
    """The Chinese spelling of an operator that ``name`` (a run of Chinese characters) ends
    with, after at least one other character, or None."""
    if name.isascii():
        return None
    for spelling in _CHINESE_SPELLINGS:
        if len(name) > len(spelling) and name.endswith(spelling):
            return spelling
    return None


def _looks_like_operator(name: str, value: str | None) -> bool:
    """An unknown ``name:value`` is reported only in ASCII, with a value, and not a link."""
    return name.isascii() and bool(value) and not (value or "").startswith("/")


def date_span(value: str) -> tuple[float, float] | None:
    """The UTC start and end (Unix times) of a day, month or year as written, or None."""
    found = _DATE.fullmatch(value)
    if found is None:
        return None
    year = int(found["y"] or found["zy"])
    month, day = found["m"] or found["zm"], found["d"] or found["zd"]
    try:
        if day is not None:
            start = datetime(year, int(month), int(day), tzinfo=UTC)
            end = start + timedelta(days=1)
        elif month is not None:
            start = datetime(year, int(month), 1, tzinfo=UTC)
            end = datetime(year + int(month) // 12, int(month) % 12 + 1, 1, tzinfo=UTC)
        else:
            start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    except (ValueError, OverflowError):  # 2025-02-30; 9999-12-31 has no day after it
        return None
    return start.timestamp(), end.timestamp()


#: What each problem means, in English for the command line (the bot has its own phrases).
_MEANINGS = {
    "unknown_operator": "unknown filter {token!r} (known: from: after: before: on: last: kind: "
    "sort:)",
    "bad_date": "{token!r}: not a date like 2025-07-14, 2025-07 or 2025",
    "bad_period": "{token!r}: not a period like 7d, 12h, 2w, 3m or 1y",
    "bad_kind": "{token!r}: the kinds are photo, video, gif and sticker",
    "bad_sort": "{token!r}: the only order besides the best first is sort:new",
    "empty": "{token!r} needs a value right after the colon, e.g. from:@ben",
    "no_dates": "{token!r} leaves no day between the dates: after: must come before before:",
}


def describe(problem: QueryProblem) -> str:
    """One line saying what is wrong with an operator and how it is written."""
    return _MEANINGS[problem.kind].format(token=problem.token)
