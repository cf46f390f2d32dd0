"""``python -m bot``: run the Telegram bot (see :mod:`bot.cli`)."""

from bot.cli import main

raise SystemExit(main())
