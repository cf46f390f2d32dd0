"""The ``clip-search`` command line: parsing (:mod:`.main`), each command on an open service,
indexing a folder, and what is printed."""

from indexer.cli.main import main, quiet_logging
from indexer.cli.parser import build_parser

__all__ = ["build_parser", "main", "quiet_logging"]
