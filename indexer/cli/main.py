"""``clip-search``: parses the command line (:mod:`indexer.cli.parser`) and runs what the
command names, turning errors a user can cause into one ``error:`` line and an exit status."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence

from tqdm.contrib.logging import logging_redirect_tqdm

from indexer.cli.parser import build_parser
from indexer.errors import IndexerError


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "validate"):
        args.validate(args)
    with quiet_logging(args.verbose):
        try:
            return int(args.run(args))
        except IndexerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(
                "interrupted: queued pictures resume next time; no file is left half-written",
                file=sys.stderr,
            )
            return 130


@contextlib.contextmanager
def quiet_logging(verbose: bool) -> Iterator[None]:
    """Warnings only (everything with ``-v``), written above any progress bar.

    The level of the ``indexer`` logger is put back afterwards, so calling :func:`main`
    leaves the process' logging as it found it.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    engine = logging.getLogger("indexer")
    level = engine.level
    engine.setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        with logging_redirect_tqdm():
            yield
    finally:
        engine.setLevel(level)
