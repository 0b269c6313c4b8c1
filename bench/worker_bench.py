"""The worker's rows: events applied per second for a burst, and MongoDB commands per event.

Timing: the events are appended in one MULTI/EXEC (so a blocked worker sees the whole burst at
once, as it would a backlog), then the group's lag and pending are polled until both are 0,
with the real worker process (`books worker run`) consuming.

Commands: the same events applied in-process, batch by batch as the worker cuts them
(WORKER_BATCH_SIZE), by `workers.apply.apply_events` on a client whose command monitoring
counts every command by name and collection. "Aggregate writes" are the bulk writes
(`update` commands) that store recomputed figures.
"""

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient
from pymongo.monitoring import CommandListener
from redis.asyncio import Redis

from service.events import Event, EventType
from service.mongo import Store
from service.settings import Settings
from workers.apply import apply_events

IGNORED = {"hello", "isMaster", "ismaster", "ping", "endSessions", "killCursors"}


class ByCollection(CommandListener):
    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def started(self, event: Any) -> None:
        if event.command_name in IGNORED:
            return
        target = event.command.get(event.command_name)
        self.counts[(event.command_name, target if isinstance(target, str) else "")] += 1

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


def rating_events(books: list[ObjectId], count: int) -> list[Event]:
    """`count` ratings, each by a different reader, over `books` in turn."""
    return [
        Event(
            type=EventType.RATING_SET, user_id=str(ObjectId()), book_id=str(books[i % len(books)])
        )
        for i in range(count)
    ]


@dataclass
class BurstResult:
    label: str
    events: int
    seconds: list[float]
    commands: dict[str, int]  # "command collection" -> count, for one application of the burst
    batches: int

    @property
    def events_per_second(self) -> float:
        return self.events / statistics.median(self.seconds)

    @property
    def commands_per_event(self) -> float:
        return sum(self.commands.values()) / self.events

    @property
    def aggregate_writes(self) -> int:
        return sum(n for key, n in self.commands.items() if key.startswith("update "))

    @property
    def book_writes(self) -> int:
        return self.commands.get("update books", 0)


async def _drained(redis: Redis, stream: str, group: str) -> bool:
    for info in await redis.xinfo_groups(stream):
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name == group:
            return int(info["pending"]) == 0 and int(info.get("lag") or 0) == 0
    return False


async def time_burst(settings: Settings, events: list[Event], timeout: float = 300) -> float:
    redis = Redis.from_url(settings.redis_url or "")
    try:
        deadline = time.monotonic() + 30
        while not await _drained(redis, settings.stream_key, settings.consumer_group):
            if time.monotonic() > deadline:
                raise RuntimeError("the worker has a backlog before the burst")
            await asyncio.sleep(0.05)
        async with redis.pipeline(transaction=True) as pipe:
            for event in events:
                pipe.xadd(settings.stream_key, event.to_fields())  # type: ignore[arg-type]
            await pipe.execute()
        started = time.perf_counter()
        while not await _drained(redis, settings.stream_key, settings.consumer_group):
            if time.perf_counter() - started > timeout:
                raise RuntimeError("the worker did not drain the burst")
            await asyncio.sleep(0.002)
        return time.perf_counter() - started
    finally:
        await redis.aclose()


async def count_commands(settings: Settings, events: list[Event]) -> tuple[dict[str, int], int]:
    listener = ByCollection()
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        event_listeners=[listener],
        socketTimeoutMS=600_000,
    )
    try:
        store = Store(client[settings.mongodb_db])
        size = settings.worker_batch_size
        batches = 0
        for start in range(0, len(events), size):
            await apply_events(store, events[start : start + size])
            batches += 1
    finally:
        await client.close()
    return {f"{name} {coll}".strip(): n for (name, coll), n in listener.counts.items()}, batches


def run_burst(
    label: str, settings: Settings, books: list[ObjectId], count: int, repeat: int
) -> BurstResult:
    seconds = [
        asyncio.run(time_burst(settings, rating_events(books, count))) for _ in range(repeat)
    ]
    commands, batches = asyncio.run(count_commands(settings, rating_events(books, count)))
    return BurstResult(label, count, seconds, commands, batches)
