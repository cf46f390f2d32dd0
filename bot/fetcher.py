"""Pictures that live in Telegram, as indexer sources: naming, downloading, re-sending.

The indexer stores a source string per picture and asks the fetcher registered for its scheme
for the bytes when it embeds (or re-embeds) it. Telegram keeps the files, so the bot stores
only file ids, and results are sent again by file id without uploading anything:

* ``telegram:<file_id>`` — a photo;
* ``telegram:document:<file_id>`` — a picture sent as a file (Telegram will not send a
  document's file id as a photo, so the kind must be remembered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

from telegram import Bot, Document, Message, PhotoSize
from telegram.error import BadRequest

from indexer.errors import SourceGoneError
from indexer.records import Fetcher

SCHEME = "telegram"
_DOCUMENT = "document:"


@dataclass(frozen=True)
class TelegramPicture:
    """A picture file stored by Telegram: its kind, ids and announced size."""

    kind: Literal["photo", "document"]
    file_id: str
    file_unique_id: str | None = None
    file_size: int | None = None

    @classmethod
    def of_message(cls, message: Message) -> TelegramPicture | None:
        """The picture of a message: its largest photo size, or an image document."""
        if message.photo:
            return cls._of_file("photo", message.photo[-1])
        document = message.document
        if document is not None and (document.mime_type or "").startswith("image/"):
            return cls._of_file("document", document)
        return None

    @classmethod
    def _of_file(cls, kind: Literal["photo", "document"], file: PhotoSize | Document) -> Self:
        return cls(kind, file.file_id, file.file_unique_id, file.file_size)

    @property
    def source(self) -> str:
        """The indexer source naming this picture."""
        prefix = _DOCUMENT if self.kind == "document" else ""
        return f"{SCHEME}:{prefix}{self.file_id}"

    @classmethod
    def of_source(cls, source: str) -> TelegramPicture:
        """The picture a source names; raises ValueError for another scheme."""
        scheme, _, rest = source.partition(":")
        if scheme != SCHEME or not rest:
            raise ValueError(f"not a Telegram source: {source!r}")
        if rest.startswith(_DOCUMENT):
            return cls("document", rest.removeprefix(_DOCUMENT))
        return cls("photo", rest)


async def download(bot: Bot, file_id: str) -> bytes:
    """The bytes of a Telegram file (getFile, then a download from the file server)."""
    file = await bot.get_file(file_id)
    return bytes(await file.download_as_bytearray())


def telegram_fetcher(bot: Bot) -> Fetcher:
    """The indexer's fetcher for ``telegram:`` sources, downloading with ``bot``.

    Telegram refusing a file id (unknown, or too big to download) is final; other errors
    (network, flood control) are left to the indexer's retries.
    """

    async def fetch(source: str) -> bytes:
        try:
            return await download(bot, TelegramPicture.of_source(source).file_id)
        except BadRequest as exc:
            raise SourceGoneError(f"Telegram refused the file: {exc.message}") from exc

    return fetch
