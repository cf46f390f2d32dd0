"""The bot's command line: ``clip-search-bot`` / ``python -m bot``.

``[--config FILE]`` runs the bot (the config from ``--config``, else ``$CLIP_SEARCH_CONFIG``,
else ./config.toml; the token from ``$TELEGRAM_BOT_TOKEN`` or ``telegram.token``), ``--worker``
the embedding worker (no token needed), and ``playground`` the bot in a browser
(:mod:`bot.playground`). Argument parsing and error messages only; the work is in :mod:`bot.app`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from telegram.error import InvalidToken, NetworkError

from bot.config import TOKEN_ENV, BotConfig, load_config
from bot.redaction import hide, redact, redact_all_output
from indexer.config import config_path
from indexer.errors import ConfigError, IndexerError
from indexer.invocation import INTERRUPTED, command_name

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Run the clip-search Telegram bot: it indexes every picture posted in the groups it is in and
answers searches (/search, private chats, inline mode) with each group's best matches.

Without a Telegram account, try it in your browser first: the "playground" command runs the
real bot against an embedded Telegram on this machine, with the offline demo model."""

_EPILOG = """\
token:   from $TELEGRAM_BOT_TOKEN, else telegram.token in the config (ask @BotFather for one);
         it is never printed.
config:  --config FILE, else $CLIP_SEARCH_CONFIG, else ./config.toml; start from
         config.example.toml (cp config.example.toml config.toml).
worker:  with index.embedding = "worker" (and a Milvus backend), the bot only queues pictures
         and hands them over, and "%(prog)s --worker" embeds them, on the same machine (they
         share the data folder); the worker needs no token.

examples:
  %(prog)s playground        # the bot in a browser at http://127.0.0.1:8080
  TELEGRAM_BOT_TOKEN=123:abc %(prog)s --config config.toml
  %(prog)s --worker --config config.toml"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command_name("bot"),
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the config file (default: $CLIP_SEARCH_CONFIG, else ./config.toml)",
    )
    parser.add_argument(
        "--worker",
        action="store_true",
        help='embed the pictures queued by a bot whose config says index.embedding = "worker"',
    )
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    playground = commands.add_parser(
        "playground",
        help="try the real bot in a browser, with no Telegram account and no download",
        description=(
            "Runs, on 127.0.0.1 only, an embedded Telegram, the real bot on it and a web page "
            "where you act as an admin, a member and an outsider of two groups. The first group "
            "starts with demo pictures, so '/search a red circle' answers at once. Each start "
            "begins afresh."
        ),
    )
    playground.add_argument(
        "--port", type=int, default=8080, help="the page's port (default: %(default)s)"
    )
    playground.add_argument(
        "--dir",
        type=Path,
        default=Path("playground"),
        help="the playground's folder: model copy, config and data (default: ./%(default)s)",
    )
    playground.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="use this config's model and settings (default: the offline demo model)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    hide(os.environ.get(TOKEN_ENV))
    if args.command == "playground":
        _log_redacted()
        return _playground(args)
    try:
        # Read before the bot is imported (torch: seconds), so a wrong key is named at once.
        config = load_config(config_path(args.config, os.environ), token_required=not args.worker)
    except IndexerError as exc:
        _say(str(exc))
        return 2 if isinstance(exc, ConfigError) else 1
    except KeyboardInterrupt:
        return INTERRUPTED
    except Exception:
        _log_redacted()
        log.critical("stopped by an unexpected error", exc_info=True)
        return 1
    hide(config.telegram.token, config.indexer.index.milvus.token)
    if config.telegram.webhook is not None:
        hide(config.telegram.webhook.secret_token)
    _log_redacted()
    return _run(args, config)


def _log_redacted() -> None:
    """The bot's logging, every line and uncaught error redacted (:mod:`bot.redaction`)."""
    # Imported here: the bot imports torch (seconds), which --help, usage and config errors
    # never wait for.
    from bot.app import configure_logging

    configure_logging()
    redact_all_output(logging.getLogger().handlers)


def _run(args: argparse.Namespace, config: BotConfig) -> int:
    """Runs the bot (or the worker) on a valid config; the exit status."""
    from bot.app import serve, work
    from bot.updates.polling import ReceivingStopped

    try:
        asyncio.run(work(config) if args.worker else serve(config))
    except (InvalidToken, ReceivingStopped) as exc:
        reason = str(exc) if isinstance(exc, ReceivingStopped) else _REJECTED_TOKEN
        _say(f"no longer receiving updates: {reason}")
        return 1
    except IndexerError as exc:
        _say(str(exc))
        return 2 if isinstance(exc, ConfigError) else 1
    except NetworkError as exc:
        _say(f"cannot reach the Telegram Bot API at {config.telegram.base_url}: {exc.message}")
        return 1
    except KeyboardInterrupt:
        # Ctrl-C before the bot was up (loading the model): nothing was acknowledged yet.
        return INTERRUPTED
    except Exception:
        log.critical("stopped by an unexpected error", exc_info=True)
        return 1
    return 0


_REJECTED_TOKEN = "Telegram rejected the bot token (telegram.token or $TELEGRAM_BOT_TOKEN)"


def _say(message: str) -> None:
    """One error line for the operator, never holding a secret."""
    print(redact(f"clip-search-bot: {message}"), file=sys.stderr)


def _playground(args: argparse.Namespace) -> int:
    from bot.playground.runner import PlaygroundError, PlaygroundOptions, run_playground

    options = PlaygroundOptions(args.port, args.dir, args.config)
    try:
        asyncio.run(run_playground(options))
    except (IndexerError, PlaygroundError) as exc:
        _say(str(exc))
        return 2 if isinstance(exc, ConfigError) else 1
    except KeyboardInterrupt:
        # Ctrl-C before the playground was ready: nothing to save, nothing to explain.
        return INTERRUPTED
    return 0
