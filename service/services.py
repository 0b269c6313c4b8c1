"""The long-lived resources of a process (MongoDB client, Redis, publisher), opened once."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from service.metrics import Metrics
from service.mongo import CommandCounter, Store, ensure_indexes, make_client
from service.persisted_queries import PersistedQueries
from service.publisher import EventPublisher
from service.ratelimit import Policy, RateLimiter
from service.response_cache import ResponseCache
from service.settings import Settings
from service.stats_hub import StatsHub


class MissingSetting(RuntimeError):
    pass


@dataclass
class Services:
    settings: Settings
    mongo: AsyncMongoClient
    store: Store
    redis: Redis
    publisher: EventPublisher
    commands: CommandCounter
    stats_hub: StatsHub
    persisted: PersistedQueries
    response_cache: ResponseCache | None
    rate_limiter: RateLimiter | None
    metrics: Metrics

    @property
    def jwt_secret(self) -> str:
        if not self.settings.jwt_secret:
            raise MissingSetting("JWT_SECRET is not set")
        return self.settings.jwt_secret


def redis_client(settings: Settings) -> Redis:
    if not settings.redis_url:
        raise MissingSetting("REDIS_URL is not set (use `books dev` for the embedded servers)")
    timeout = settings.mongodb_timeout_ms / 1000
    return Redis.from_url(settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)


def rate_limiter(settings: Settings) -> RateLimiter | None:
    if not settings.rate_limit_enabled or not settings.redis_url:
        return None
    policy = Policy(
        auth=settings.rate_limit_auth,
        write=settings.rate_limit_write,
        read=settings.rate_limit_read,
        fail_open=settings.rate_limit_fail_open,
    )
    return RateLimiter(settings.redis_url, policy, prefix=f"{settings.redis_prefix}:ratelimit")


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
    hub = StatsHub(redis, settings.stats_channel)
    cache = (
        ResponseCache(redis, settings.redis_prefix, settings.response_cache_ttl_seconds)
        if settings.response_cache
        else None
    )
    try:
        if create_indexes:
            await ensure_indexes(store)
        yield Services(
            settings=settings,
            mongo=mongo,
            store=store,
            redis=redis,
            publisher=EventPublisher(
                store, redis, settings.stream_key, settings.fault_exit_before_publish
            ),
            commands=commands,
            stats_hub=hub,
            persisted=PersistedQueries(
                redis,
                f"{settings.redis_prefix}:pq",
                settings.persisted_query_ttl_seconds,
                settings.persisted_queries_only,
            ),
            response_cache=cache,
            rate_limiter=rate_limiter(settings),
            metrics=Metrics(),
        )
    finally:
        await hub.close()
        await redis.aclose()
        await mongo.close()
