"""A fake Telegram Bot API server: end-to-end tests and the playground run the real bot on it.

``FakeTelegram`` (server.py) is the entry point: start it, point python-telegram-bot's
``base_url``/``base_file_url`` at it, act as users with its helpers (actions.py), and await
what the bot sent with ``wait_for``. The state it keeps is in ``fake.world`` (state.py).
"""

from .errors import ApiError
from .params import Upload
from .server import CallRecord, FakeTelegram
from .state import Chat, StoredFile, User, World

__all__ = [
    "ApiError",
    "CallRecord",
    "Chat",
    "FakeTelegram",
    "StoredFile",
    "Upload",
    "User",
    "World",
]
