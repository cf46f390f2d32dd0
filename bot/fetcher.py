"""Pictures that live in Telegram, as indexer sources: naming, downloading, re-sending.

The indexer stores a source string per picture and asks the fetcher registered for its scheme
for the bytes when it embeds (or re-embeds) it. Telegram keeps the files, so the bot stores
only file ids, and results are sent again by file id without uploading anything:

* ``telegram:<file_id>`` — a photo;
* ``telegram:<kind>:<file_id>`` — anything else, by how it must be sent back (Telegram will
  not send a document's file id as a photo): ``document`` (a picture or clip sent as a file),
  ``video``, ``animation`` (a GIF), ``video_note``, ``sticker``;
* ``...:thumbnail:<file_id>`` after either — a file over the Bot API's download limit (20 MB),
  indexed by the thumbnail Telegram made of it and sent back as itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

from telegram import Animation, Bot, Document, Message, PhotoSize, Sticker, Video, VideoNote
from telegram.error import BadRequest

from indexer.errors import SourceGoneError
from indexer.records import Fetcher, ImageKind

SCHEME = "telegram"
_THUMBNAIL = ":thumbnail:"

FileKind = Literal["photo", "document", "video", "animation", "video_note", "sticker"]
_KINDS: tuple[FileKind, ...] = ("document", "video", "animation", "video_note", "sticker")
#: What the indexer calls each kind of Telegram file (a document: by its MIME type).
_INDEXED_AS: dict[FileKind, ImageKind] = {
    "photo": "photo",
    "video": "video",
    "animation": "gif",
    "video_note": "video_note",
    "sticker": "sticker",
}
_File = PhotoSize | Document | Video | Animation | VideoNote | Sticker


@dataclass(frozen=True)
class TelegramPicture:
    """A picture or clip stored by Telegram: its kind, ids, announced size, and the
    thumbnail fetched instead of it when it is too large to download."""

    kind: FileKind
    file_id: str
    file_unique_id: str | None = None
    file_size: int | None = None
    thumbnail_id: str | None = None
    #: A document's kind by its MIME type (a video file is indexed as a clip).
    indexed_as: ImageKind = "photo"

    @classmethod
    def of_message(cls, message: Message, max_bytes: int | None = None) -> TelegramPicture | None:
        """The picture or clip of a message: its largest photo size, a video, an animation, a
        round video note, a sticker, or a picture or video document.

        With ``max_bytes``, a file announced larger (and an animated ``.tgs`` sticker, which
        has no pictures to decode) is fetched by its thumbnail; None if it has none.
        """
        if message.photo:
            return cls._of_file("photo", message.photo[-1], max_bytes)
        for kind in ("animation", "video", "video_note", "sticker"):
            file = getattr(message, kind)
            if file is not None:
                return cls._of_file(kind, file, max_bytes)
        document = message.document
        mime = (document.mime_type or "") if document is not None else ""
        if document is not None and mime.startswith(("image/", "video/")):
            indexed_as: ImageKind = "video" if mime.startswith("video/") else "photo"
            return cls._of_file("document", document, max_bytes, indexed_as)
        return None

    @classmethod
    def _of_file(
        cls, kind: FileKind, file: _File, max_bytes: int | None, indexed_as: ImageKind = "photo"
    ) -> Self | None:
        thumbnail = getattr(file, "thumbnail", None)
        too_large = max_bytes is not None and (file.file_size or 0) > max_bytes
        no_frames = isinstance(file, Sticker) and file.is_animated
        fetched_instead = None
        if too_large or no_frames:
            if thumbnail is None:
                return None
            fetched_instead = thumbnail.file_id
        return cls(
            kind,
            file.file_id,
            file.file_unique_id,
            file.file_size,
            fetched_instead,
            _INDEXED_AS.get(kind, indexed_as),
        )

    @property
    def fetch_id(self) -> str:
        """The file whose bytes are indexed: the thumbnail, or the file itself."""
        return self.thumbnail_id or self.file_id

    @property
    def source(self) -> str:
        """The indexer source naming this picture."""
        prefix = "" if self.kind == "photo" else f"{self.kind}:"
        thumbnail = "" if self.thumbnail_id is None else f"{_THUMBNAIL}{self.thumbnail_id}"
        return f"{SCHEME}:{prefix}{self.file_id}{thumbnail}"

    @classmethod
    def of_source(cls, source: str) -> TelegramPicture:
        """The picture a source names; raises ValueError for another scheme."""
        scheme, _, rest = source.partition(":")
        if scheme != SCHEME or not rest:
            raise ValueError(f"not a Telegram source: {source!r}")
        rest, _, thumbnail = rest.partition(_THUMBNAIL)
        kind, _, file_id = rest.partition(":")
        if kind in _KINDS and file_id:
            return cls(kind, file_id, thumbnail_id=thumbnail or None)  # type: ignore[arg-type]
        return cls("photo", rest, thumbnail_id=thumbnail or None)


async def download(bot: Bot, file_id: str) -> bytes:
    """The bytes of a Telegram file (getFile, then a download from the file server)."""
    file = await bot.get_file(file_id)
    return bytes(await file.download_as_bytearray())


def telegram_fetcher(bot: Bot) -> Fetcher:
    """The indexer's fetcher for ``telegram:`` sources, downloading with ``bot``.

    A file too large to download is fetched by its thumbnail (the source names it).
    Telegram refusing a file id (unknown, or too big to download) is final; other errors
    (network, flood control) are left to the indexer's retries.
    """

    async def fetch(source: str) -> bytes:
        try:
            return await download(bot, TelegramPicture.of_source(source).fetch_id)
        except BadRequest as exc:
            raise SourceGoneError(f"Telegram refused the file: {exc.message}") from exc

    return fetch
