"""Keeping secrets out of every line the bot prints.

The bot token is part of every Bot API URL, and PTB puts it in messages too ("The token `…`
was rejected"). Whatever a log line, a traceback or an error message holds, it passes through
:func:`redact` on its way out: log records through :class:`RedactingFormatter`, uncaught
exceptions through the except hooks, and ``python -m bot``'s own error lines directly.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from types import TracebackType

from pydantic import SecretStr

#: What a secret is replaced with.
HIDDEN = "[hidden]"
#: Shorter values are not treated as secrets (hiding "1" would garble every number).
_MIN_SECRET_CHARS = 6

_secrets: list[str] = []
_log = logging.getLogger(__name__)


def hide(*values: SecretStr | str | None) -> None:
    """From now on, ``values`` (and a bot token's secret half) are never printed."""
    for value in values:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not text:
            continue
        _, _, secret_half = text.partition(":")
        for secret in (text, secret_half):
            if len(secret) >= _MIN_SECRET_CHARS and secret not in _secrets:
                _secrets.append(secret)
    _secrets.sort(key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every hidden value replaced."""
    for secret in _secrets:
        text = text.replace(secret, HIDDEN)
    return text


class RedactingFormatter(logging.Formatter):
    """A log formatter whose output (message, arguments and traceback) never holds a secret."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def redact_all_output(handlers: Iterable[logging.Handler]) -> None:
    """Makes ``handlers`` and uncaught exceptions (main thread and others) print redacted."""
    for handler in handlers:
        formatter = handler.formatter or logging.Formatter()
        handler.setFormatter(RedactingFormatter(formatter._fmt, formatter.datefmt))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(
        args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback
    )


def _log_uncaught(
    kind: type[BaseException], error: BaseException, traceback: TracebackType | None
) -> None:
    _log.critical("uncaught error", exc_info=(kind, error, traceback))
