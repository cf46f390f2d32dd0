"""What each command runs once its arguments are parsed: ``args.run(args)`` for every command.

Commands that need the model and the collections run on an open :class:`IndexService`
(:func:`on_service`); the others load only what they need, so they start at once: ``list``,
``stats`` and ``forget`` the store and the indexes without the model
(:mod:`indexer.cli.without_model`), ``check`` and ``backup`` the store and files.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from indexer.config import DEFAULT_CONFIG_PATH, IndexerConfig, config_path, load_indexer_config
from indexer.errors import IndexerError, UnknownCollectionError

log = logging.getLogger(__name__)

#: The collection commands that need no model: :mod:`indexer.cli.without_model` runs them on
#: the store and the indexes alone, without importing torch.
WITHOUT_MODEL = frozenset({"list_pictures", "stats", "forget"})


def on_service(command: str) -> Callable[[argparse.Namespace], int]:
    """Runs :mod:`indexer.cli.commands`' function ``command`` on an open service: the commands
    that need the model and the collections. Named, not imported: the service imports torch,
    seconds that ``--help`` and input errors never wait. A command of :data:`WITHOUT_MODEL`
    runs without the model unless only the service can answer it as it would."""

    def run(args: argparse.Namespace) -> int:
        config = load_indexer_config(_config_path(args.config))
        if command in WITHOUT_MODEL:
            status = asyncio.run(_without_model(command, args, config))
            if status is not None:
                return status
        return asyncio.run(_serve(command, args, config))

    return run


def check(args: argparse.Namespace) -> int:
    """``check``: needs no model."""
    from indexer.cli.check import CheckOptions, check_data

    config = load_indexer_config(_config_path(args.config))
    return asyncio.run(check_data(config, CheckOptions(repair=args.repair)))


def backup(args: argparse.Namespace) -> int:
    """``backup``: needs no model, and runs beside the bot."""
    from indexer.store.backup import backup_database

    config = load_indexer_config(_config_path(args.config))
    print(f"backed up to {asyncio.run(backup_database(config.storage.data_dir, args.dest))}")
    return 0


def demo(args: argparse.Namespace) -> int:
    from indexer.cli.demo import run_demo

    return asyncio.run(run_demo(args.dir))


def evaluate(args: argparse.Namespace) -> int:
    from indexer.training.evaluation import EvalOptions, evaluate_command

    config = load_indexer_config(_config_path(args.config))
    evaluate_command(config, EvalOptions(pairs=args.pairs, as_json=args.json))
    return 0


def finetune(args: argparse.Namespace) -> int:
    # Imported here: torch's training machinery is slow to load and most commands never need it.
    from indexer.training.finetune import FinetuneOptions, TrainingData, finetune_from

    config = load_indexer_config(_config_path(args.config))
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


def model(args: argparse.Namespace) -> int:
    from indexer.cli.model import ModelOptions, model_command

    options = ModelOptions(
        action=args.model_action,
        out=getattr(args, "out", None),
        folder=getattr(args, "folder", None),
    )
    return model_command(options, load_indexer_config(_config_path(args.config)))


def _config_path(given: Path | None) -> Path | None:
    """The config file, or None to use the defaults when ./config.toml does not exist."""
    path = config_path(given, os.environ)
    return None if path == DEFAULT_CONFIG_PATH and not path.exists() else path


async def _check_input(args: argparse.Namespace, config: IndexerConfig) -> None:
    """Refuses, before the model is loaded (seconds), what is wrong without it."""
    from indexer.model.folder import read_folder
    from indexer.store import Store

    if args.command == "index":
        from indexer.cli.index_folder import refuse_chat_collection

        refuse_chat_collection(args.collection)
        if not args.directory.is_dir():
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


async def _without_model(
    command: str, args: argparse.Namespace, config: IndexerConfig
) -> int | None:
    """Runs a command of :data:`WITHOUT_MODEL` on the store and indexes alone; None where
    only the service can answer it as it would (:meth:`StoreOnly.open`)."""
    from indexer.cli import without_model

    started = time.perf_counter()
    kept = await without_model.StoreOnly.open(config)
    if kept is None:
        log.debug("%s needs the model here: opening the service", args.command)
        return None
    try:
        status = int(await getattr(without_model, command)(kept, args))
    finally:
        await kept.close()
    log.debug("%s without the model took %.0f ms", args.command, _ms_since(started))
    return status


async def _serve(command: str, args: argparse.Namespace, config: IndexerConfig) -> int:
    """Runs a command that needs the model and the collections."""
    started = time.perf_counter()
    await _check_input(args, config)
    # Imported here: the service imports torch, seconds that --help and input errors never wait.
    from indexer.cli import commands, without_model
    from indexer.service import IndexService

    run = getattr(without_model if command in WITHOUT_MODEL else commands, command)
    collection = getattr(args, "collection", None)
    warn_about = {collection} if collection is not None else None
    async with await IndexService.open(config, warn_about=warn_about) as service:
        log.debug("opening the model and indexes took %.0f ms", _ms_since(started))
        started = time.perf_counter()
        status = int(await run(service, args))
        log.debug("%s took %.0f ms", args.command, _ms_since(started))
        return status


def _ms_since(started: float) -> float:
    return 1000 * (time.perf_counter() - started)
