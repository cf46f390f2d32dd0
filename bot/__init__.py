"""The Telegram front desk: indexes the pictures posted in groups and answers searches.

It speaks Telegram (python-telegram-bot) and decides who may ask what; everything about
pictures and vectors is asked of :class:`indexer.service.IndexService`.
"""

from typing import NoReturn

from indexer.invocation import run_command


def run() -> NoReturn:
    """The ``clip-search-bot`` command and ``python -m bot`` (:mod:`bot.cli`)."""
    run_command("bot.cli")
