"""The long-lived resources of a process (MongoDB client, Redis, publisher), opened once."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from service.mongo import CommandCounter, Store, ensure_indexes, make_client
from service.publisher import EventPublisher
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

    @property
    def jwt_secret(self) -> str:
        if not self.settings.jwt_secret:
            raise MissingSetting("JWT_SECRET is not set")
        return self.settings.jwt_secret


def redis_client(settings: Settings) -> Redis:
    if not settings.redis_url:
        raise MissingSetting("REDIS_URL is not set (use `books dev` for the embedded servers)")
    timeout = settings.mongodb_timeout_ms / 1000
    return Redis.from_url(
        settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
    )


@asynccontextmanager
async def open_services(settings: Settings, *, create_indexes: bool = True) -> AsyncIterator[Services]:
    if not settings.mongodb_url:
        raise MissingSetting("MONGODB_URL is not set (use `books dev` for the embedded servers)")
    commands = CommandCounter()
    mongo = make_client(settings.mongodb_url, settings, commands)
    redis = redis_client(settings)
    store = Store(mongo[settings.mongodb_db])
    hub = StatsHub(redis, settings.stats_channel)
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
        )
    finally:
        await hub.close()
        await redis.aclose()
        await mongo.close()
