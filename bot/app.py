"""Building and running the bot: one Application from the config and an open IndexService.

``serve`` opens the indexer and serves updates by long polling, or with PTB's own webhook
server when ``telegram.mode = "webhook"``, until Ctrl-C or SIGTERM; ``work`` embeds queued
pictures instead (see :mod:`bot.worker`). The command line that starts them is :mod:`bot.cli`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from telegram import BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    ContextTypes,
    PersistenceInput,
    PicklePersistence,
)

from bot.chats import ChatFacts, group_of
from bot.config import BotConfig, TelegramConfig
from bot.context import BotApplication, BotContext, Deps, UserPrefs, deps_of, install_deps
from bot.fetcher import SCHEME, telegram_fetcher
from bot.handlers import ALLOWED_UPDATES, register_handlers
from bot.paging import Pages
from bot.permissions import Permissions
from bot.ranking import Relevance
from bot.texts import EN, TRANSLATIONS
from bot.throttle import QueryLimiter
from bot.worker import working
from indexer.service import IndexService

log = logging.getLogger(__name__)

#: A call that Telegram answers with "retry after N seconds" is retried this many times.
FLOOD_RETRIES = 3
#: Updates handled at the same time (a slow search does not hold up everyone else).
CONCURRENT_UPDATES = 16
#: Start-up calls (deleteWebhook / setWebhook) retried this many times on network errors.
BOOTSTRAP_RETRIES = 5
#: Group titles and search preferences are kept in this file of the data folder.
PERSISTENCE_FILE = "bot.pickle"


def build_application(config: BotConfig, service: IndexService) -> BotApplication:
    """The bot's Application, with every handler, talking to the Bot API at ``base_url``."""
    telegram = config.telegram
    context_types = ContextTypes(context=BotContext, chat_data=ChatFacts, user_data=UserPrefs)
    persistence = PicklePersistence(
        config.indexer.storage.data_dir / PERSISTENCE_FILE,
        store_data=PersistenceInput(bot_data=False, callback_data=False),
        context_types=context_types,
    )
    application: BotApplication = (
        ApplicationBuilder()
        .token(telegram.token.get_secret_value())
        .base_url(telegram.base_url)
        .base_file_url(telegram.base_file_url)
        .context_types(context_types)
        .persistence(persistence)
        .rate_limiter(AIORateLimiter(max_retries=FLOOD_RETRIES))
        .concurrent_updates(CONCURRENT_UPDATES)
        .job_queue(None)
        .build()
    )
    install_deps(
        application,
        Deps(
            service=service,
            config=telegram,
            permissions=Permissions(
                application.bot, telegram.admin_ids, telegram.membership_cache_seconds
            ),
            pages=Pages(telegram.more_button_ttl_seconds),
            limiter=QueryLimiter(telegram.queries_per_minute),
            relevance=Relevance(telegram.score_margin, telegram.min_score),
        ),
    )
    register_handlers(application)
    return application


@asynccontextmanager
async def serving(application: BotApplication, config: TelegramConfig) -> AsyncIterator[None]:
    """Serves updates while the block runs; then stops cleanly and closes the service.

    Stopping: no new updates are taken, updates already taken are handled, a running
    reindex is interrupted, then the service is closed (queued pictures stay queued in
    SQLite, indexes are saved) while the bot can still download, and last the HTTP client.
    """
    deps = deps_of(application)
    try:
        await application.initialize()
    except BaseException:
        await deps.service.close()
        raise
    try:
        deps.service.register_fetcher(SCHEME, telegram_fetcher(application.bot))
        await announce(application)
        await application.start()
        await _receive_updates(application, config)
        yield
    finally:
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        for task in list(deps.reindexes.values()):
            task.cancel()
        if application.running:
            await application.stop()
        await deps.service.close()
        await application.shutdown()


async def announce(application: BotApplication) -> None:
    """Registers the command menus in English and Chinese, and logs what is indexed."""
    bot = application.bot
    for language, texts in [(None, EN), *TRANSLATIONS.items()]:
        for scope, commands in (
            (BotCommandScopeAllPrivateChats(), texts.private_commands),
            (BotCommandScopeAllGroupChats(), texts.group_commands),
        ):
            await bot.set_my_commands(list(commands.items()), scope=scope, language_code=language)
    service = deps_of(application).service
    log.info("@%s is up; model %s", bot.username, service.model_id)
    if not bot.can_read_all_group_messages:
        log.warning(
            "privacy mode is on: in groups where it is not an admin, the bot sees commands but "
            "not the pictures; turn it off with @BotFather (/setprivacy) to index them"
        )
    for collection in await service.collections():
        chat_id = group_of(collection)
        facts = application.chat_data.get(chat_id) if chat_id is not None else None
        numbers = await service.stats(collection)
        log.info(
            "chat %s (%s): %d pictures", collection, facts.title if facts else "?", numbers.images
        )


async def _receive_updates(application: BotApplication, config: TelegramConfig) -> None:
    assert application.updater is not None
    if config.mode == "webhook":
        assert config.webhook is not None
        await application.updater.start_webhook(
            listen=config.webhook.listen,
            port=config.webhook.port,
            url_path=config.webhook.url_path,
            webhook_url=config.webhook.url,
            secret_token=config.webhook.secret_token.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
            bootstrap_retries=BOOTSTRAP_RETRIES,
        )
    else:
        await application.updater.start_polling(
            timeout=timedelta(seconds=config.poll_timeout_seconds),
            allowed_updates=ALLOWED_UPDATES,
            bootstrap_retries=BOOTSTRAP_RETRIES,
        )


async def serve(config: BotConfig) -> None:
    """Runs the bot until Ctrl-C or SIGTERM."""
    service = await IndexService.open(config.indexer)
    application = build_application(config, service)
    async with serving(application, config.telegram):
        await until_stopped()


async def work(config: BotConfig) -> None:
    """Runs the embedding worker (``--worker``) until Ctrl-C or SIGTERM."""
    async with working(config):
        await until_stopped()


async def until_stopped() -> None:
    """Waits for Ctrl-C or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("stopping")


def configure_logging() -> None:
    """The bot's, the indexer's and PTB's INFO logs to stderr; other libraries' warnings only.

    httpx's request lines stay silenced, as their URLs hold the token.
    """
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in ("bot", "indexer", "telegram"):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
