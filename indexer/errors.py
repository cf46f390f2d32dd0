"""Errors a caller can cause, each with a message a person can act on.

The bot turns these into a short reply and the CLI into a one-line message and a non-zero exit,
so every message here is written for the person who sent the picture or typed the query.
"""


class IndexerError(Exception):
    """Base class of every error the indexer reports to its callers on purpose."""


class ConfigError(IndexerError):
    """The configuration file or environment has a wrong or missing value."""


class ModelLoadError(IndexerError):
    """The CLIP model could not be loaded; the message names what was tried."""


class BadImageError(IndexerError):
    """The bytes are not a picture the indexer can use (corrupt, empty, too large...)."""


class BadQueryError(IndexerError):
    """A search query that cannot be answered as given (empty, too long...)."""


class UnknownPosterError(IndexerError):
    """A ``from:`` names nobody who posted a picture in the collections searched."""

    def __init__(self, name: str) -> None:
        super().__init__(f"nobody called {name!r} has posted a picture here")
        self.name = name


class PictureNotFoundError(IndexerError):
    """The picture asked for is not (or no longer) in the collection."""


class UnknownCollectionError(IndexerError):
    """The collection has never been indexed."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown collection {name!r}: nothing has been indexed there yet")
        self.name = name


class ReindexInProgressError(IndexerError):
    """A reindex of the same collection is already running."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a reindex of collection {name!r} is already running")
        self.name = name


# Fine-tuning and evaluation (indexer/training/: pairs.py, finetune.py, evaluation.py).


class BadPairsError(IndexerError):
    """A file of (picture, caption) pairs cannot be used; the message lists every bad line."""


class FinetuneError(IndexerError):
    """Fine-tuning cannot start as asked (too few pairs for the batch, a clashing --out...)."""


class StorageError(IndexerError):
    """A file of the data folder cannot be written (a full disk) or is damaged."""


class DataFolderError(StorageError, ConfigError):
    """``storage.data_dir`` cannot be created, opened or written (permissions, a file in its
    way, a read-only disk): a setting to change, so both programs exit 2 on it."""


class DamagedDatabaseError(StorageError):
    """The database file is empty or damaged: only a backup can bring its contents back, so
    it is never replaced (``check`` reports it as a finding)."""


class DatabaseBusyError(StorageError):
    """Another program (the bot, its worker, a command) kept the database locked for longer
    than we wait. Nothing is wrong with the file, so this is never a DamagedDatabaseError."""


# Fetching pictures (raised by fetchers the caller registers, e.g. the bot's Telegram one).


class SourceGoneError(Exception):
    """A fetcher's way to say the source no longer exists, so retrying is pointless."""
