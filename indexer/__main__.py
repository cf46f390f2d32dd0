"""``python -m indexer``: the indexer's command line (see :mod:`indexer.cli`)."""

from indexer import run

run()
