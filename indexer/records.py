"""The value types every layer passes around: what the bot hands over and what it gets back.

They carry no behaviour and know nothing of SQL, FAISS or Telegram, so the bot, the service,
the worker and every store exchange them without importing each other's machinery.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

ImageStatus = Literal["pending", "indexed", "repost", "failed"]
#: What a post is: a still picture, a clip (video), an animation (GIF, or a video without sound
#: sent as one), a round video note, or a sticker (still, or a video sticker).
ImageKind = Literal["photo", "video", "gif", "video_note", "sticker"]
#: A caption the poster wrote, a tag someone gave, or the words read in the picture itself.
TextKind = Literal["caption", "tag", "ocr"]
#: Which vectors an index holds: the pictures' own, those of their captions and tags, or each
#: frame of the clips (by the frame's id in ``clip_frames``).
VectorKind = Literal["pictures", "texts", "frames"]
PICTURE_VECTORS: VectorKind = "pictures"
TEXT_VECTORS: VectorKind = "texts"
FRAME_VECTORS: VectorKind = "frames"

#: Reads the bytes of a picture from its source, e.g. ``file:/photos/a.jpg``; raises
#: :class:`~indexer.errors.SourceGoneError` when the source no longer exists.
Fetcher = Callable[[str], Awaitable[bytes]]


@dataclass(frozen=True)
class ImageFacts:
    """What the caller knows about a picture when it hands it over."""

    source: str
    file_unique_id: str | None = None
    poster_id: int | None = None
    poster_name: str | None = None
    posted_at: float | None = None
    message_id: int | None = None
    caption: str | None = None
    #: What the post was sent as; a "photo" that decodes as a clip becomes a "video" or "gif".
    kind: ImageKind = "photo"
    #: The poster's @username without the "@", so ``from:@name`` finds their pictures.
    poster_username: str | None = None


@dataclass(frozen=True)
class ImageRecord:
    """One stored picture (or repost) with everything known about it."""

    id: int
    collection: str
    source: str
    file_unique_id: str | None
    sha256: str | None
    size_bytes: int | None
    width: int | None
    height: int | None
    poster_id: int | None
    poster_name: str | None
    posted_at: float | None
    message_id: int | None
    caption: str | None
    status: ImageStatus
    error: str | None
    repost_of: int | None
    added_at: float
    indexed_at: float | None
    kind: ImageKind = "photo"


@dataclass(frozen=True)
class PictureFilter:
    """Which pictures of a collection a listing shows (``python -m indexer list``)."""

    status: ImageStatus | None = None
    #: A poster's numeric id or name (any case).
    poster: str | None = None
    #: Words the source, caption, a tag or the words read in the picture contain (any case).
    contains: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class SearchFilters:
    """Which pictures a search may return, applied before ranking (``from:``, ``after:``…).

    ``posters`` are as the asker wrote them (``@ben``, ``Ben`` or a numeric id) and match a
    poster's @username, name (any case) or id; several mean any of them. ``after`` and
    ``before`` are Unix times: posted at or after ``after``, strictly before ``before``.
    ``newest`` orders the good matches by date, newest first, instead of by score.
    """

    posters: tuple[str, ...] = ()
    after: float | None = None
    before: float | None = None
    kinds: tuple[ImageKind, ...] = ()
    newest: bool = False

    @property
    def narrows(self) -> bool:
        """Whether they leave out some pictures (``sort:new`` alone only reorders)."""
        dates = (self.after, self.before)
        return bool(self.posters or self.kinds) or dates != (None, None)


#: What is wrong with one operator of a query: it is unknown, its date or period cannot be
#: read, its kind or sort order does not exist, or it has no value.
ProblemKind = Literal[
    "unknown_operator", "bad_date", "bad_period", "bad_kind", "bad_sort", "empty", "no_dates"
]


@dataclass(frozen=True)
class QueryProblem:
    """One operator of a query that cannot be used, as written (``after:yesterdayish``)."""

    kind: ProblemKind
    token: str


@dataclass(frozen=True)
class ParsedQuery:
    """A query read into the words to embed, the filters it names, and what could not be read."""

    words: str
    filters: SearchFilters
    problems: tuple[QueryProblem, ...] = ()


@dataclass(frozen=True)
class ListedPicture:
    """One picture of a listing: its stored facts and its tags."""

    image: ImageRecord
    tags: list[str]
    #: The words read in the picture (lines joined by newlines); None when it has none or
    #: was not read yet.
    words: str | None = None


@dataclass(frozen=True)
class ImageText:
    """A caption, tag or the words read in a picture: searchable words beside its pixels."""

    id: int
    image_id: int
    collection_id: int
    kind: TextKind
    text: str


@dataclass(frozen=True)
class Forgotten:
    """What a forget removed: picture ids, the ids of their captions and tags, and the ids of
    their clips' frames."""

    images: list[int]
    texts: list[int]
    frames: list[int]


@dataclass(frozen=True)
class PictureQuery:
    """A picture someone searched with, embedded once: every page of its results reuses it.

    Only the vector and the picture's hash (to leave the picture itself out of its own
    results) are kept, never the picture's bytes.
    """

    vector: np.ndarray
    sha256: str


@dataclass(frozen=True)
class PendingImage:
    """A queued picture the worker still has to fetch and embed."""

    id: int
    collection_id: int
    source: str
    attempts: int


@dataclass(frozen=True)
class FrameVector:
    """One frame of a clip: the moment it shows (seconds from the start) and its vector."""

    seconds: float
    vector: np.ndarray


@dataclass(frozen=True)
class PictureToRead:
    """An embedded picture whose words the background stage has not read yet."""

    id: int
    collection_id: int
    source: str
    attempts: int
    #: The SHA-256 of the bytes that were embedded: the source must still hold them.
    sha256: str | None = None


@dataclass(frozen=True)
class ReadingCounts:
    """How far reading the words in a collection's pictures has come."""

    #: Pictures read (with or without words).
    read: int = 0
    #: Of those, the ones with words in them.
    with_words: int = 0
    #: Embedded pictures waiting to be read.
    unread: int = 0
    #: Pictures whose every attempt failed (damaged, or hanging the recogniser).
    unreadable: int = 0


@dataclass(frozen=True)
class EmbeddedImage:
    """The result of embedding one pending picture, ready to be committed.

    A clip's ``vector`` is the normalised mean of its ``frames``; a still picture has none.
    ``kind`` is what decoding found ("video", "gif") or None for a still picture.
    """

    id: int
    sha256: str
    size_bytes: int
    width: int
    height: int
    vector: np.ndarray
    frames: tuple[FrameVector, ...] = ()
    kind: ImageKind | None = None


@dataclass(frozen=True)
class CollectionCounts:
    """How many pictures of a collection are in each state."""

    indexed: int
    reposts: int
    pending: int
    failed: int
    forgotten: int
    without_vector: int
    last_indexed_at: float | None


@dataclass(frozen=True)
class AddResult:
    """What happened to a picture handed to :meth:`IndexService.add_image`."""

    #: "known": this very post was handed over before; "forgotten": and forgotten since,
    #: so it stays out.
    outcome: Literal["queued", "repost", "known", "forgotten", "opted_out"]
    image_id: int | None = None
    original_id: int | None = None


@dataclass(frozen=True)
class SearchHit:
    """One search result: the picture's stored facts and how well it matched.

    ``score`` is a cosine similarity: of the query to the caption, tag or words read in the
    picture that matched (``matched_text``, for words read only the part around the match),
    else of the query to the picture itself, or to a clip's best frame, whose moment (seconds
    from the start) is ``moment``. It is 0 for pictures listed ``by_date``.
    """

    score: float
    image: ImageRecord
    matched_text: str | None = None
    #: What ``matched_text`` is; for words read in the picture (``"ocr"``) it is cut short
    #: around the words that matched.
    matched_kind: TextKind | None = None
    moment: float | None = None
    #: Listed by date for a query of filters alone, not ranked: ``score`` means nothing.
    by_date: bool = False

    @property
    def moment_label(self) -> str | None:
        """The matched moment as minutes:seconds (``00:12``), hours first past an hour."""
        if self.moment is None:
            return None
        minutes, seconds = divmod(int(self.moment), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


@dataclass(frozen=True)
class ReindexProgress:
    """Progress of a running reindex, reported after every batch."""

    done: int
    total: int
    failed: int
    elapsed_seconds: float

    @property
    def rate(self) -> float:
        """Pictures per second so far."""
        return self.done / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Estimated seconds left, once a rate is known."""
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@dataclass(frozen=True)
class CollectionStats:
    """What ``stats`` reports about one collection."""

    name: str
    images: int
    reposts: int
    pending: int
    failed: int
    forgotten: int
    needs_reindex: int
    tags: int
    model: str
    index_type: str
    index_vectors: int
    index_bytes: int
    last_indexed_at: float | None
    #: The model's similarity thresholds in force (configured, else calibrated).
    thresholds: Thresholds
    #: Reading the words in the pictures (indexer/ocr).
    readings: ReadingCounts = ReadingCounts()


# Similarity thresholds calibrated per model (the rule: indexer/model/calibration.py; kept per
# model in SQLite: indexer/store/calibrations.py).

#: The share of unrelated pairs (in percent) that score at most the threshold before the margin.
PERCENTILE = 99.0
#: Added to the text ↔ text percentile: a meaning match must be clearly above unrelated texts.
TEXT_MARGIN = 0.02
#: Added to the text ↔ picture percentile.
PICTURE_MARGIN = 0.02


@dataclass(frozen=True)
class Calibration:
    """A model's calibrated thresholds and how they were measured."""

    text_text: float
    text_picture: float
    #: Identifies the phrases, pictures and rule; a stored calibration with another is redone.
    method: str
    phrases: int
    pictures: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        return cls(**json.loads(text))

    def describe(self) -> str:
        """One line for ``stats`` and ``model check``."""
        return (
            f"text↔text ≥ {self.text_text:.3f}, text↔picture ≥ {self.text_picture:.3f} "
            f"(p{PERCENTILE:g} of unrelated pairs of {self.phrases} phrases and "
            f"{self.pictures} pictures, + {TEXT_MARGIN:g} / {PICTURE_MARGIN:g})"
        )


#: ``search.picture_match_min`` set to this uses the calibrated text ↔ picture floor.
CALIBRATED = "calibrated"


@dataclass(frozen=True)
class Thresholds:
    """The thresholds in force: the configured value where one is set, else the calibrated one.

    ``text_match_min``: a caption or tag matches a query by meaning at this cosine or above.
    ``picture_match_min``: a picture found by its own vector answers a description only at
    this cosine or above (None: every picture may, the default). The text ↔ picture floor is
    applied only when asked for (``search.picture_match_min``, a number or ``"calibrated"``):
    it is calibrated on synthetic pictures, and whether their unrelated pairs look like a
    real group's photos to a real model is unmeasured here (no real weights can be had).
    """

    text_match_min: float
    text_match_configured: bool
    picture_match_min: float | None
    picture_match_configured: str | float | None
    calibration: Calibration

    @classmethod
    def choose(
        cls,
        calibration: Calibration,
        *,
        text_match_min: float | None = None,
        picture_match_min: float | str | None = None,
    ) -> Thresholds:
        """The configured values (None where unset) over the calibrated ones."""
        return cls(
            calibration.text_text if text_match_min is None else text_match_min,
            text_match_min is not None,
            calibration.text_picture if picture_match_min == CALIBRATED else picture_match_min,
            picture_match_min,
            calibration,
        )

    def describe(self) -> str:
        """One line for ``stats``: what is in force and where it comes from."""
        text_source = "search.text_match_min" if self.text_match_configured else "calibrated"
        if self.picture_match_min is None:
            picture = "no picture match floor (search.picture_match_min)"
        else:
            source = "calibrated" if self.picture_match_configured == CALIBRATED else "configured"
            picture = f"picture match ≥ {self.picture_match_min:.3f} ({source})"
        return (
            f"text match ≥ {self.text_match_min:.3f} ({text_source}), {picture}; "
            f"calibrated: {self.calibration.describe()}"
        )
