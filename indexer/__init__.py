"""The search engine: turns pictures and words into CLIP vectors, keeps them in FAISS and
their facts in SQLite, and answers "which images match this?" for one collection at a time.

It knows nothing about Telegram; the bot talks to it through :class:`indexer.service.IndexService`.
"""

from typing import NoReturn

from indexer.invocation import run_command


def run() -> NoReturn:
    """The ``clip-search`` command and ``python -m indexer`` (:mod:`indexer.cli`)."""
    run_command("indexer.cli")
