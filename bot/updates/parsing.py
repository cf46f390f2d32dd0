"""Turning one raw update (JSON as Telegram sent it) into an :class:`Update`, its text cleaned.

This is where Telegram's text enters the bot, so it is cleaned here once, for every handler:
every string of the update (captions, queries, names, titles) goes through the engine's
:func:`~indexer.text_cleaning.clean_text` (no NUL, no lone surrogates, no bidi overrides).
Polling and the webhook both parse with :func:`parse_update`.
"""

from __future__ import annotations

from typing import Any

from telegram import Bot, Update

from indexer.text_cleaning import clean_text


def parse_update(raw: object, bot: Bot) -> Update:
    """The update ``raw`` with its text cleaned; ValueError (or PTB's own error) if malformed."""
    if not isinstance(raw, dict) or type(raw.get("update_id")) is not int:
        raise ValueError("not an object with an integer update_id")
    update = Update.de_json(_cleaned(raw), bot)
    if update is None:
        raise ValueError("an empty update")
    return update


def _cleaned(value: Any) -> Any:
    """``value`` with every string in it (keys too) cleaned, at any depth."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {_cleaned(key): _cleaned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_cleaned(item) for item in value]
    return value
