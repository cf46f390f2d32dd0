"""The indexer's command line: index a folder, search it, keep it healthy, or try the demo.

Every command works on one collection of the configured data folder, the same folder the bot
uses, so pictures indexed here are searchable in the bot and the other way round.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from indexer.config import DEFAULT_CONFIG_PATH, IndexerConfig, config_path, load_indexer_config
from indexer.errors import IndexerError, UnknownCollectionError
from indexer.invocation import command_name
from indexer.model_command import add_model_commands
from indexer.records import ReindexProgress
from indexer.terminal import print_hits, print_stats

if TYPE_CHECKING:  # the service imports torch: seconds that --help and input errors never wait
    from indexer.service import IndexService


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command_name("indexer"),
        description="Index pictures with CLIP and search them by meaning.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML config file (default: $CLIP_SEARCH_CONFIG, else ./config.toml if present)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser("index", help="index every picture under a folder")
    index.add_argument("directory", type=Path)
    index.add_argument("--collection", required=True)

    search = commands.add_parser("search", help="search by description or by example picture")
    search.add_argument("text", nargs="?", help="what the picture shows")
    search.add_argument("--image", type=Path, help="find pictures similar to this one")
    search.add_argument("--collection", required=True)
    search.add_argument("-k", type=int, default=5, help="number of results (default 5)")

    reindex = commands.add_parser("reindex", help="re-embed a collection with the current model")
    reindex.add_argument("--collection", required=True)

    stats = commands.add_parser("stats", help="counts, model and index of collections")
    stats.add_argument("--collection", help="one collection (default: all)")

    forget = commands.add_parser("forget", help="remove pictures from a collection")
    forget.add_argument("--collection", required=True)
    what = forget.add_mutually_exclusive_group(required=True)
    what.add_argument("--id", type=int, nargs="+", dest="ids", help="picture ids")
    what.add_argument("--path", type=Path, nargs="+", dest="paths", help="indexed files")

    tag = commands.add_parser("tag", help="give pictures a searchable tag (a name, a place)")
    tag.add_argument("text", help="the tag, e.g. a place name")
    tag.add_argument("--collection", required=True)
    which = tag.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, nargs="+", dest="ids", help="picture ids")
    which.add_argument("--path", type=Path, nargs="+", dest="paths", help="indexed files")

    check = commands.add_parser(
        "check", help="check the database and every index against it (exit 1 on findings)"
    )
    check.add_argument(
        "--repair", action="store_true", help="rebuild damaged indexes, delete orphaned rows"
    )

    backup = commands.add_parser(
        "backup", help="copy the database consistently, also while the bot runs"
    )
    backup.add_argument("dest", type=Path, help="the copy's file name, or a folder to put it in")

    demo = commands.add_parser("demo", help="offline demo on synthetic pictures")
    demo.add_argument("--dir", type=Path, default=Path("demo"), help="where to put it (./demo)")

    finetune = commands.add_parser(
        "finetune", help="teach the model a group's own words from (picture, caption) pairs"
    )
    data = finetune.add_mutually_exclusive_group(required=True)
    data.add_argument("--pairs", type=Path, help="CSV or JSONL with image (path) and caption")
    data.add_argument(
        "--collection", help="the captioned and tagged pictures of a collection indexed from files"
    )
    finetune.add_argument("--out", type=Path, required=True, help="new checkpoint file (.pt)")
    finetune.add_argument("--epochs", type=int, default=5, help="passes over the pairs (5)")
    finetune.add_argument("--batch-size", type=int, default=32, help="pairs per step (32)")
    finetune.add_argument("--lr", type=float, default=1e-5, help="peak learning rate (1e-5)")
    finetune.add_argument(
        "--warmup", type=float, default=0.1, help="share of steps warming up, then cosine (0.1)"
    )
    finetune.add_argument(
        "--lock-image", action="store_true", help="train the text tower only (LiT-style)"
    )
    finetune.add_argument(
        "--held-out", type=float, default=0.1, help="share of pictures kept to measure on (0.1)"
    )
    finetune.add_argument(
        "--general", type=Path, help="pairs unlike the training data, to catch forgetting"
    )
    finetune.add_argument("--seed", type=int, default=0, help="for the split and training (0)")
    finetune.add_argument(
        "--patience", type=int, help="stop after N epochs without held-out improvement"
    )

    evaluate = commands.add_parser("eval", help="recall@1/5/10 of the model on pairs")
    evaluate.add_argument(
        "--pairs", type=Path, required=True, help="CSV or JSONL with image (path) and caption"
    )
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")

    add_model_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("indexer").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        if args.command == "demo":
            from indexer.demo import run_demo

            return asyncio.run(run_demo(args.dir))
        if args.command == "search" and (args.text is None) == (args.image is None):
            raise IndexerError("search needs either a TEXT or --image PATH, not both")
        config = load_indexer_config(_config_path(args.config))
        if args.command == "finetune":
            return _finetune(args, config)
        if args.command == "eval":
            from indexer.evaluation import EvalOptions, evaluate_command

            evaluate_command(config, EvalOptions(pairs=args.pairs, as_json=args.json))
            return 0
        if args.command in ("check", "backup"):
            return asyncio.run(_look_after(args, config))
        if args.command == "model":
            from indexer.model_command import model_command

            return model_command(args, config)
        return asyncio.run(_run(args, config))
    except IndexerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: queued pictures resume next time; no file is left half-written",
            file=sys.stderr,
        )
        return 130


def _finetune(args: argparse.Namespace, config: IndexerConfig) -> int:
    # Imported here: torch's training machinery is slow to load and most commands never need it.
    from indexer.finetune import FinetuneOptions, TrainingData, finetune_from

    options = FinetuneOptions(
        out=args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_fraction=args.warmup,
        lock_image=args.lock_image,
        held_out=args.held_out,
        seed=args.seed,
        patience=args.patience,
    )
    data = TrainingData(pairs=args.pairs, collection=args.collection, general=args.general)
    finetune_from(config, data, options)
    return 0


def _config_path(given: Path | None) -> Path | None:
    """The config file, or None to use the defaults when ./config.toml does not exist."""
    path = config_path(given, os.environ)
    return None if path == DEFAULT_CONFIG_PATH and not path.exists() else path


async def _look_after(args: argparse.Namespace, config: IndexerConfig) -> int:
    """``check`` and ``backup``: they need no model, and ``backup`` runs beside the bot."""
    if args.command == "check":
        from indexer.check import CheckOptions, check_data

        return await check_data(config, CheckOptions(repair=args.repair))
    from indexer.backup import backup_database

    print(f"backed up to {await backup_database(config.storage.data_dir, args.dest)}")
    return 0


async def _check_input(args: argparse.Namespace, config: IndexerConfig) -> None:
    """Refuses, before the model is loaded (seconds), what is wrong without it."""
    from indexer.model_folder import read_folder
    from indexer.store import Store

    if args.command == "index" and not args.directory.is_dir():
        raise IndexerError(f"not a folder: {args.directory}")
    if config.model.path is not None:
        read_folder(config.model.path, verify_hashes=False)
    if args.command == "index" or getattr(args, "collection", None) is None:
        return
    store = await Store.open_in(config.storage.data_dir)
    try:
        if await store.collections.id_of(args.collection) is None:
            raise UnknownCollectionError(args.collection)
    finally:
        await store.close()


async def _run(args: argparse.Namespace, config: IndexerConfig) -> int:
    await _check_input(args, config)
    from indexer.folder import file_source, index_directory
    from indexer.service import IndexService

    async with await IndexService.open(config) as service:
        if args.command == "index":
            return await index_directory(service, args.directory, args.collection)
        if args.command == "search":
            if args.image is not None:
                hits = await service.search_image([args.collection], _read(args.image), k=args.k)
            else:
                hits = await service.search_text([args.collection], args.text, k=args.k)
            print_hits(hits)
            return 0
        if args.command == "reindex":
            return await _reindex(service, args.collection)
        if args.command == "stats":
            names = [args.collection] if args.collection else await service.collections()
            for name in names:
                print_stats(await service.stats(name))
            return 0
        if args.command == "tag":
            ids = list(args.ids or [])
            for path in args.paths or []:
                ids += await service.ids_of_source(args.collection, file_source(path))
            tags = await service.tag(args.collection, ids, args.text)
            print(f"tagged {len(tags)} picture(s) with {args.text!r}")
            return 0
        if args.command == "forget":
            removed = 0
            for image_id in args.ids or []:
                removed += await service.forget(args.collection, [image_id])
            for path in args.paths or []:
                removed += await service.forget_source(args.collection, file_source(path))
            print(f"forgot {removed} picture(s)")
            return 0 if removed else 1
    raise AssertionError(f"unhandled command {args.command}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IndexerError(f"cannot read {path}: {exc.strerror}") from None


async def _reindex(service: IndexService, collection: str) -> int:
    bar = tqdm(desc="reindexing", unit="img", disable=None)

    async def report(progress: ReindexProgress) -> None:
        bar.total = progress.total
        bar.update(progress.done - bar.n)

    result = await service.reindex(collection, report)
    bar.close()
    print(
        f"reindexed {result.done - result.failed} of {result.total} pictures "
        f"with {service.model_id}; {result.failed} could not be fetched or decoded"
    )
    return 1 if result.failed else 0
