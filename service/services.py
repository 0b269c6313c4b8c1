"""The long-lived resources of a process (MongoDB client, Redis, publisher), opened once."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from redis.asyncio import Redis

from service.auth import PasswordHashing
from service.metrics import Metrics
from service.mongo import CommandCounter, Store, ensure_indexes, make_client
from service.persisted_queries import PersistedQueries
from service.pipeline import Pipeline, PipelineNames
from service.publisher import EventPublisher
from service.ratelimit import Policy, RateLimiter
from service.response_cache import ResponseCache
from service.settings import Settings
from service.stats_hub import StatsHub

log = logging.getLogger(__name__)


class MissingSetting(RuntimeError):
    pass


@dataclass
class Services:
    settings: Settings
    mongo: AsyncMongoClient
    store: Store
    redis: Redis
    publisher: EventPublisher
    pipeline: Pipeline
    commands: CommandCounter
    stats_hub: StatsHub
    persisted: PersistedQueries
    response_cache: ResponseCache | None
    rate_limiter: RateLimiter | None
    metrics: Metrics
    passwords: PasswordHashing

    async def ping_mongo(self) -> None:
        """Raises when MongoDB does not answer (readiness)."""
        await self.mongo.admin.command("ping")

    @property
    def jwt_secret(self) -> str:
        if not self.settings.jwt_secret:
            raise MissingSetting("JWT_SECRET is not set")
        return self.settings.jwt_secret


def redis_client(settings: Settings, name: str | None = None) -> Redis:
    """`name`: the connections' client name (CLIENT LIST shows it)."""
    if not settings.redis_url:
        raise MissingSetting("REDIS_URL is not set (use `books dev` for the embedded servers)")
    connect = settings.redis_timeout_ms / 1000
    # A worker's XREADGROUP blocks up to WORKER_BLOCK_MS on the server: reads must outlast it.
    read = (settings.redis_timeout_ms + settings.worker_block_ms) / 1000
    return Redis.from_url(
        settings.redis_url, socket_timeout=read, socket_connect_timeout=connect, client_name=name
    )


def rate_limiter(settings: Settings) -> RateLimiter | None:
    if not settings.rate_limit_enabled or not settings.redis_url:
        return None
    policy = Policy(
        auth=settings.rate_limit_auth,
        write=settings.rate_limit_write,
        read=settings.rate_limit_read,
        fail_open=settings.rate_limit_fail_open,
    )
    return RateLimiter(
        settings.redis_url,
        policy,
        prefix=f"{settings.redis_prefix}:ratelimit",
        timeout_seconds=settings.redis_timeout_ms / 1000,
    )


async def _ensure_indexes_when_reachable(store: Store, retry_seconds: float = 2.0) -> None:
    """Create the indexes now, or as soon as MongoDB answers: a process started while MongoDB
    is down serves SERVICE_UNAVAILABLE meanwhile and recovers by itself."""
    while True:
        try:
            await ensure_indexes(store)
            return
        except PyMongoError as error:
            log.warning("indexes not ensured yet (%s); retrying in %.0f s", error, retry_seconds)
            await asyncio.sleep(retry_seconds)


@asynccontextmanager
async def open_services(
    settings: Settings, *, create_indexes: bool = True
) -> AsyncIterator[Services]:
    if not settings.mongodb_url:
        raise MissingSetting("MONGODB_URL is not set (use `books dev` for the embedded servers)")
    commands = CommandCounter()
    mongo = make_client(settings.mongodb_url, settings, commands)
    redis = redis_client(settings)
    store = Store(mongo[settings.mongodb_db])
    names = PipelineNames.of(settings)
    hub = StatsHub(redis, names.stats_channel)
    cache = (
        ResponseCache(redis, settings.redis_prefix, names, settings.response_cache_ttl_seconds)
        if settings.response_cache
        else None
    )
    passwords = PasswordHashing(settings.password_hash_threads)
    index_task: asyncio.Task[None] | None = None
    if create_indexes:
        try:
            await ensure_indexes(store)
        except PyMongoError as error:
            log.warning("MongoDB unavailable at start-up (%s); will retry", error)
            index_task = asyncio.create_task(_ensure_indexes_when_reachable(store))
    try:
        yield Services(
            settings=settings,
            mongo=mongo,
            store=store,
            redis=redis,
            publisher=EventPublisher(
                store, redis, names.stream, settings.fault_exit_before_publish
            ),
            pipeline=Pipeline(redis, names, settings.worker_heartbeat_seconds),
            commands=commands,
            stats_hub=hub,
            persisted=PersistedQueries.from_settings(redis, settings),
            response_cache=cache,
            rate_limiter=rate_limiter(settings),
            metrics=Metrics(),
            passwords=passwords,
        )
    finally:
        passwords.close()
        if index_task is not None:
            index_task.cancel()
            with suppress(asyncio.CancelledError):
                await index_task
        await hub.close()
        await redis.aclose()
        await mongo.close()
