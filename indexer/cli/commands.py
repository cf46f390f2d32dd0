"""The CLI's commands that run on an open :class:`~indexer.service.IndexService`.

:mod:`indexer.cli.dispatch` opens the service; each function here takes
the service and the parsed options, does one command and prints what it did (results on
stdout, notes on stderr), returning the exit status. ``list``, ``stats`` and ``forget`` need
no model: they are in :mod:`indexer.cli.without_model`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from indexer.cli.demo_notice import NOTICE as DEMO_NOTICE
from indexer.cli.demo_notice import are_demo_drawings, is_about_shapes, uses_demo_model
from indexer.cli.index_folder import index_directory, picture_files
from indexer.cli.output import print_hits
from indexer.cli.without_model import report_targets, targets
from indexer.embed.files import NotAPictureFileError, read_picture_file
from indexer.errors import BadQueryError, IndexerError, PictureNotFoundError, SourceGoneError
from indexer.records import ReindexProgress, SearchFilters
from indexer.search.filters import KINDS, describe
from indexer.service import IndexService
from indexer.text_cleaning import clean_text


def _note(text: str) -> None:
    print(text, file=sys.stderr)


async def index(service: IndexService, args: argparse.Namespace) -> int:
    if uses_demo_model(service.config) and not are_demo_drawings(picture_files(args.directory)):
        _note(DEMO_NOTICE)
    return await index_directory(
        service, args.directory, args.collection, follow_outside=args.follow_outside
    )


async def search(service: IndexService, args: argparse.Namespace) -> int:
    parsed = service.parse_query(args.text or "")
    if parsed.problems:
        raise BadQueryError("; ".join(describe(problem) for problem in parsed.problems))
    filters = with_options(parsed.filters, args)
    left_out = False
    if args.image is not None:
        query = await service.picture_query(
            _read(args.image, service.config.limits.max_image_bytes), parsed.words
        )
        hits = await service.search_image(
            [args.collection], query, k=args.k, include_self=args.include_self, filters=filters
        )
        # The note only where it is true: the collection holds the query picture itself.
        left_out = not args.include_self and await service.holds_picture(args.collection, query)
        unknown_to_demo = not are_demo_drawings([args.image])
    else:
        hits = await service.search_text([args.collection], parsed.words, k=args.k, filters=filters)
        unknown_to_demo = bool(parsed.words) and not is_about_shapes(parsed.words)
    print_hits(hits)
    if left_out:
        _note("note: the query picture itself is left out (--include-self keeps it)")
    if unknown_to_demo and uses_demo_model(service.config):
        _note(DEMO_NOTICE)
    return 0


def with_options(filters: SearchFilters, args: argparse.Namespace) -> SearchFilters:
    """The query's own filters narrowed by ``--poster``, ``--since``, ``--until``, ``--kind``
    and ``--newest`` (posters and kinds: any of them; dates: both limits hold)."""
    since = None if args.since is None else args.since[0]
    until = None if args.until is None else args.until[1]
    after = [moment for moment in (filters.after, since) if moment is not None]
    before = [moment for moment in (filters.before, until) if moment is not None]
    kinds = [kind for name in args.kind for kind in KINDS[name]]
    return SearchFilters(
        posters=(*filters.posters, *args.poster),
        after=max(after, default=None),
        before=min(before, default=None),
        kinds=tuple(dict.fromkeys((*filters.kinds, *kinds))),
        newest=filters.newest or args.newest,
    )


async def tag(service: IndexService, args: argparse.Namespace) -> int:
    tagged = 0
    stored = clean_text(args.text).strip()  # the tag as the service keeps it
    missing: list[str] = []
    for name, ids in await targets(service, args):
        try:
            tagged += len(await service.tag(args.collection, ids, args.text))
        except PictureNotFoundError:
            missing.append(name)
    return report_targets(
        f"tagged {tagged} picture(s) with {stored!r}",
        tagged,
        missing,
        f"no indexed picture to tag in collection {args.collection!r}",
    )


def _read(path: Path, max_bytes: int) -> bytes:
    try:
        return read_picture_file(path.resolve(), max_bytes)
    except SourceGoneError:
        raise IndexerError(f"cannot read {path}: no such file") from None
    except NotAPictureFileError as exc:
        raise IndexerError(f"cannot read {path}: {exc}") from None
    except OSError as exc:
        raise IndexerError(f"cannot read {path}: {exc.strerror}") from None


async def reindex(service: IndexService, args: argparse.Namespace) -> int:
    bar = tqdm(desc="reindexing", unit="img", disable=None)

    async def report(progress: ReindexProgress) -> None:
        bar.total = progress.total
        bar.update(progress.done - bar.n)

    result = await service.reindex(args.collection, report)
    bar.close()
    print(
        f"reindexed {result.done - result.failed} of {result.total} pictures "
        f"with {service.model_id}; {result.failed} could not be fetched or decoded"
    )
    return 1 if result.failed else 0
