"""The bot's configuration: the ``[telegram]`` section of the shared config file.

One loader reads the whole file once at start-up and returns the bot's and the indexer's
settings together, so a typo anywhere fails fast with the key's dotted name. The token comes
from ``telegram.token`` or, overriding it, the ``TELEGRAM_BOT_TOKEN`` environment variable; it
is a :class:`~pydantic.SecretStr`, so printing the config never shows it. Only the bot needs it:
the embedding worker (``--worker``) loads the same file without one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from indexer.config import (
    IndexerConfig,
    StrictSection,
    read_toml,
    validate_section,
)
from indexer.errors import ConfigError

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"

#: The Bot API refuses downloads above this size unless it is a self-hosted server.
BOT_API_DOWNLOAD_LIMIT = 20 * 1024 * 1024

#: Telegram accepts 1–256 of these characters as a webhook secret token.
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class WebhookConfig(StrictSection):
    """Where the bot's webhook server (bot/updates/webhook.py) listens; the URL Telegram posts
    to."""

    url: str
    secret_token: SecretStr
    listen: str = "127.0.0.1"
    port: int = Field(default=8443, ge=1, le=65535)

    @field_validator("url")
    @classmethod
    def _https_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("must be the public URL Telegram sends updates to (https://...)")
        return value

    @field_validator("secret_token")
    @classmethod
    def _telegram_secret(cls, value: SecretStr) -> SecretStr:
        if not _SECRET_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @property
    def url_path(self) -> str:
        """The local path the server answers on: the path of the public URL."""
        return urlsplit(self.url).path.lstrip("/")


class TelegramConfig(StrictSection):
    """Everything the bot reads from ``[telegram]``; the documented defaults apply."""

    #: None only in a config loaded for the worker, which never talks to Telegram.
    token: SecretStr | None = None
    mode: Literal["polling", "webhook"] = "polling"
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    poll_timeout_seconds: float = Field(default=10.0, gt=0)
    max_download_bytes: int = Field(default=BOT_API_DOWNLOAD_LIMIT, ge=1)
    admin_ids: frozenset[int] = frozenset()
    purge_on_removal: bool = False
    results_per_page: int = Field(default=5, ge=1, le=10)
    score_margin: float = Field(default=0.1, ge=0)
    min_score: float | None = Field(default=None, ge=-1, le=1)
    queries_per_minute: int = Field(default=20, ge=1)
    membership_cache_seconds: float = Field(default=300.0, ge=0)
    more_button_ttl_seconds: float = Field(default=3600.0, gt=0)
    webhook: WebhookConfig | None = None

    @property
    def bot_token(self) -> str:
        """The token, to talk to Telegram; raises ConfigError when the config has none."""
        if self.token is None:
            raise ConfigError(_MISSING_TOKEN)
        return self.token.get_secret_value()


_MISSING_TOKEN = f"invalid configuration: telegram.token: missing; set it or ${TOKEN_ENV}"


@dataclass(frozen=True)
class BotConfig:
    """The whole config file: the bot's section and the indexer's sections."""

    telegram: TelegramConfig
    indexer: IndexerConfig

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        base_dir: Path,
        environ: Mapping[str, str],
        *,
        token_required: bool = True,
    ) -> BotConfig:
        """Validates a parsed config file; ``environ`` may supply the token, which only a
        config for talking to Telegram (``token_required``) must have."""
        section = dict(data.get("telegram", {}))
        if environ.get(TOKEN_ENV):
            section["token"] = environ[TOKEN_ENV]
        if not section.get("token"):
            if token_required:
                raise ConfigError(_MISSING_TOKEN)
            section.pop("token", None)
        telegram = validate_section(TelegramConfig, section, prefix="telegram")
        if telegram.mode == "webhook" and telegram.webhook is None:
            raise ConfigError(
                'invalid configuration: telegram.webhook: required when telegram.mode = "webhook"'
                " (with url and secret_token)"
            )
        return cls(telegram, IndexerConfig.from_mapping(dict(data), base_dir))


def load_config(
    path: Path, environ: Mapping[str, str] = os.environ, *, token_required: bool = True
) -> BotConfig:
    """Reads and validates the config file; raises ConfigError naming the wrong key.

    ``token_required=False`` is for the embedding worker: it never talks to Telegram.
    """
    return BotConfig.from_mapping(
        read_toml(path), path.resolve().parent, environ, token_required=token_required
    )
