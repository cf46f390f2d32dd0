"""The playground: the real bot in a browser, against an embedded fake Telegram.

``python -m bot playground`` (see :mod:`bot.playground.runner`) starts, on 127.0.0.1 only, the
fake Bot API server of :mod:`bot.playground.fake_telegram` (the same one the tests use), the
real bot's Application pointed at it, and a small Telegram-like web page to act as its users.
"""
