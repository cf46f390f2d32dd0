"""Building and running the bot: one Application from the config and an open IndexService.

``serve`` opens the indexer and serves updates by long polling (:mod:`bot.updates.polling`), or with
the bot's own webhook server when ``telegram.mode = "webhook"`` (:mod:`bot.updates.webhook`), until
Ctrl-C or SIGTERM; both confirm an update to Telegram only once it is handled and stored.
``work`` embeds queued pictures instead (see :func:`working`): with ``index.embedding =
"worker"`` the serving bot only downloads the pictures and hands their bytes over to it. The
command line that starts them is :mod:`bot.cli`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from telegram import BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats
from telegram.error import NetworkError
from telegram.ext import (
    ApplicationBuilder,
    ContextTypes,
    PersistenceInput,
    PicklePersistence,
)

from bot.chats import ChatFacts, group_of
from bot.config import BotConfig, TelegramConfig
from bot.context import BotApplication, BotContext, Deps, UserPrefs, deps_of, install_deps
from bot.fetcher import SCHEME, telegram_fetcher
from bot.flood import MessageRateLimiter
from bot.handlers import ALLOWED_UPDATES, register_handlers
from bot.permissions import Permissions
from bot.persistence import set_aside_if_unreadable
from bot.phrases import EN, TRANSLATIONS
from bot.results.continuations import Pages
from bot.results.relevance import Relevance
from bot.throttle import QueryLimiter, Turns
from bot.updates.polling import Poller, ReceivingStopped
from bot.updates.webhook import WebhookServer
from indexer.config import IndexerConfig
from indexer.service import Embedder, IndexService

log = logging.getLogger(__name__)

#: A call that Telegram answers with "retry after N seconds" is retried this many times.
FLOOD_RETRIES = 3
#: Updates handled at the same time. Not what keeps the bot fair (per-person limits and turns
#: do that, and sends wait only for their own chat's budget): a bound on work in memory, high
#: enough that a few chats waiting on their send budget never fill it.
CONCURRENT_UPDATES = 256
#: Start-up calls (deleteWebhook / setWebhook) retried this many times on network errors.
BOOTSTRAP_RETRIES = 5
#: Group titles and search preferences are kept in this file of the data folder.
PERSISTENCE_FILE = "bot.pickle"
#: On stopping, updates being handled get this long to finish (and be confirmed).
STOP_GRACE_SECONDS = 20.0


def build_application(config: BotConfig, service: IndexService) -> BotApplication:
    """The bot's Application, with every handler, talking to the Bot API at ``base_url``."""
    telegram = config.telegram
    context_types = ContextTypes(context=BotContext, chat_data=ChatFacts, user_data=UserPrefs)
    persistence_file = config.indexer.storage.data_dir / PERSISTENCE_FILE
    set_aside_if_unreadable(persistence_file)
    persistence = PicklePersistence(
        persistence_file,
        store_data=PersistenceInput(bot_data=False, callback_data=False),
        context_types=context_types,
    )
    application: BotApplication = (
        ApplicationBuilder()
        .token(telegram.bot_token)
        .base_url(telegram.base_url)
        .base_file_url(telegram.base_file_url)
        .context_types(context_types)
        .persistence(persistence)
        .rate_limiter(MessageRateLimiter(max_retries=FLOOD_RETRIES))
        .concurrent_updates(CONCURRENT_UPDATES)
        .job_queue(None)
        .updater(None)
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
            turns=Turns(),
            relevance=Relevance(telegram.score_margin, telegram.min_score),
        ),
    )
    register_handlers(application)
    return application


@asynccontextmanager
async def serving(
    application: BotApplication, config: TelegramConfig
) -> AsyncIterator[asyncio.Task[None]]:
    """Serves updates while the block runs; then stops cleanly and closes the service.

    The block gets the task receiving updates: it ends only with ReceivingStopped (Telegram
    rejected the token), so a caller can stop when it does. Stopping: no new updates are taken,
    updates being handled finish and are confirmed, a running reindex is interrupted, then the
    service is closed (queued pictures stay queued in SQLite, indexes are saved) while the bot
    can still download, and last the HTTP client.
    """
    deps = deps_of(application)
    try:
        await application.initialize()
    except BaseException:
        await deps.service.close()
        raise
    stop_receiving: Callable[[], Awaitable[None]] | None = None
    try:
        deps.service.register_fetcher(SCHEME, telegram_fetcher(application.bot))
        if not deps.service.embeds:
            # The worker process has no token: the bot downloads the pictures for it.
            deps.service.hand_over(SCHEME)
        await announce(application)
        await application.start()
        receiving, stop_receiving = await _receive_updates(application, config)
        yield receiving
    finally:
        try:
            if stop_receiving is not None:
                await stop_receiving()
            for task in list(deps.reindexes.values()):
                task.cancel()
            if application.running:
                await application.stop()
        finally:
            # Whatever failed above, the service is closed: its model thread must not be
            # left running as the process ends (see open_application).
            try:
                await deps.service.close()
            finally:
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


async def _receive_updates(
    application: BotApplication, config: TelegramConfig
) -> tuple[asyncio.Task[None], Callable[[], Awaitable[None]]]:
    """Starts receiving updates: the receiving task, and how to stop it."""
    bot = application.bot
    if config.mode == "webhook":
        assert config.webhook is not None
        webhook = config.webhook
        secret = webhook.secret_token.get_secret_value()
        await _retrying(
            lambda: bot.set_webhook(
                webhook.url,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
                max_connections=CONCURRENT_UPDATES,
            )
        )
        server = WebhookServer(
            application, url_path=webhook.url_path, secret=secret, concurrency=CONCURRENT_UPDATES
        )
        server.start(webhook.listen, webhook.port)
        serving_forever = asyncio.create_task(asyncio.Event().wait())

        async def stop_webhook() -> None:
            serving_forever.cancel()
            await server.stop(STOP_GRACE_SECONDS)

        return serving_forever, stop_webhook
    await _retrying(bot.delete_webhook)
    poller = Poller(
        application,
        timeout=config.poll_timeout_seconds,
        allowed_updates=ALLOWED_UPDATES,
        concurrency=CONCURRENT_UPDATES,
    )
    polling = asyncio.create_task(poller.run())

    async def stop_polling() -> None:
        await poller.stop(STOP_GRACE_SECONDS)
        await asyncio.gather(polling, return_exceptions=True)

    return polling, stop_polling


async def _retrying(call: Callable[[], Awaitable[object]]) -> None:
    """A start-up call (setWebhook, deleteWebhook), retried on network errors."""
    for attempt in range(BOOTSTRAP_RETRIES):
        try:
            await call()
            return
        except NetworkError as exc:
            if attempt == BOOTSTRAP_RETRIES - 1:
                raise
            log.warning("start-up call failed (%s); trying again", exc)
            await asyncio.sleep(1.0)


async def open_application(config: BotConfig) -> BotApplication:
    """Opens the index service and builds the bot's Application on it, for :func:`serving`
    (which closes the service when it ends).

    When the Application cannot be built the service is closed before the error goes on: an
    open service's model thread may already be embedding (after a kill, the pictures left
    queued), and a process that ends while it is inside torch dies of SIGABRT instead of
    exiting with its status and its one error line.
    """
    service = await IndexService.open(config.indexer)
    try:
        return build_application(config, service)
    except BaseException:
        await service.close()
        raise


async def serve(config: BotConfig) -> None:
    """Runs the bot until Ctrl-C or SIGTERM."""
    application = await open_application(config)
    async with serving(application, config.telegram) as receiving:
        await until_stopped(receiving)


async def work(config: BotConfig) -> None:
    """Runs the embedding worker (``--worker``) until Ctrl-C or SIGTERM; it needs no token."""
    async with working(config.indexer):
        await until_stopped()


async def until_stopped(receiving: asyncio.Task[None] | None = None) -> None:
    """Waits for Ctrl-C or SIGTERM, or for ``receiving`` to end (it then raises its error)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait(
        [stopped, *([receiving] if receiving else [])], return_when=asyncio.FIRST_COMPLETED
    )
    if receiving is not None and receiving.done():
        stopped.cancel()
        exc = receiving.exception()
        raise exc if exc is not None else ReceivingStopped("the update loop ended")
    log.info("stopping")


def configure_logging() -> None:
    """The bot's, the indexer's and PTB's INFO logs to stderr; other libraries' warnings only.

    httpx's request lines stay silenced, as their URLs hold the token (``main`` also redacts
    every line, whatever it holds: see :mod:`bot.redaction`).
    """
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in ("bot", "indexer", "telegram"):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)


@asynccontextmanager
async def working(config: IndexerConfig, embedder: Embedder | None = None) -> AsyncIterator[None]:
    """Embeds queued pictures while the block runs; then finishes the batch in progress."""
    async with await IndexService.open(config, embedder, embed=True):
        yield
