"""``python -m bot``: run the Telegram bot (see :mod:`bot.cli`)."""

from bot import run

run()
