"""The Redis side of the event pipeline, in one place: the names of its stream, consumer group,
dead-letter stream, stats channel and keys; the "figures changed" notice; the figures epochs
(global, shared and per book: service.response_cache says which entries carry which);
worker heartbeats (keys that expire, so a killed worker drops out of the status by itself);
and the pipeline's status as `books worker status` and /metrics report it.

The API (publishing events, the stats hub, the response cache's epoch), the worker, the CLI and
/metrics all take their names from here; the consumer-group mechanics themselves (reads,
claims, acknowledgements, trimming) are the worker's (workers/stream.py).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from service.settings import Settings

HEARTBEAT_MISSES = 3  # a worker whose last beats this many intervals ago counts as gone


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class PipelineNames:
    """Every Redis name the pipeline uses, derived from the settings."""

    stream: str
    group: str
    dead_letters: str
    stats_channel: str
    epoch: str  # the global epoch
    shared_epoch: str  # the epoch every book's cached pages carry besides their own
    book_epochs: str  # prefix of the per-book epoch keys (+ the book's ObjectId hex)
    heartbeats: str  # prefix of the per-worker heartbeat keys
    # A book's epoch key outlives every entry stamped with it (the response cache's TTL), so
    # that an expired key's number, counted again from 1, cannot make an old entry fresh.
    book_epoch_ttl_seconds: int

    @classmethod
    def of(cls, settings: Settings) -> "PipelineNames":
        return cls(
            stream=settings.stream_key,
            group=settings.consumer_group,
            dead_letters=settings.dead_letter_stream,
            stats_channel=settings.stats_channel,
            epoch=f"{settings.redis_prefix}:epoch",
            shared_epoch=f"{settings.redis_prefix}:epoch:shared",
            book_epochs=f"{settings.redis_prefix}:epoch:book:",
            heartbeats=f"{settings.stream_key}:worker:",
            book_epoch_ttl_seconds=2 * settings.response_cache_ttl_seconds + 60,
        )

    def book_epoch(self, book_id: str) -> str:
        return self.book_epochs + book_id


class Pipeline:
    def __init__(self, redis: Redis, names: PipelineNames, heartbeat_seconds: float) -> None:
        self.redis = redis
        self.names = names
        self.heartbeat_seconds = heartbeat_seconds

    async def stats_changed(self, book_ids: Iterable[str]) -> None:
        """Tell every API process that these books' figures were rewritten (subscriptions)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for book_id in book_ids:
                pipe.publish(self.names.stats_channel, book_id)
            await pipe.execute()

    async def advance_epoch(self, books: Iterable[str] | None = None) -> None:
        """Figures changed: cached responses computed before now are stale, those scoped to
        one of `books` only (service.response_cache.stale_books), or every one (None)."""
        names = self.names
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(names.epoch)
            if books is None:
                pipe.incr(names.shared_epoch)
            else:
                for book_id in books:
                    pipe.incr(names.book_epoch(book_id))
                    pipe.expire(names.book_epoch(book_id), names.book_epoch_ttl_seconds)
            await pipe.execute()

    async def heartbeat(self, worker: str, counters: dict[str, Any]) -> None:
        """A worker's counters, kept only while it keeps beating."""
        ttl = max(1, round(self.heartbeat_seconds * HEARTBEAT_MISSES))
        key = self.names.heartbeats + worker
        await self.redis.set(key, orjson.dumps({"name": worker, **counters}), ex=ttl)

    async def workers(self) -> list[dict[str, Any]]:
        keys = [k async for k in self.redis.scan_iter(match=self.names.heartbeats + "*")]
        values = await self.redis.mget(keys) if keys else []
        found = [orjson.loads(v) for v in values if v is not None]
        return sorted(found, key=lambda w: str(w.get("name")))

    async def groups(self) -> list[dict[str, Any]]:
        """Every consumer group of the stream (ours and other teams'), with its backlog."""
        try:
            raw = await self.redis.xinfo_groups(self.names.stream)
        except ResponseError:  # no stream yet
            return []
        return [
            {
                "name": _text(group["name"]),
                "consumers": int(group["consumers"]),
                "pending": int(group["pending"]),
                "lag": group.get("lag"),
                "last_delivered": _text(group["last-delivered-id"]),
            }
            for group in raw
        ]

    async def status(self, outbox: int) -> dict[str, Any]:
        """The pipeline as operators see it; `outbox` comes from MongoDB."""
        return {
            "stream": self.names.stream,
            "length": await self.redis.xlen(self.names.stream),
            "dead_letters": await self.redis.xlen(self.names.dead_letters),
            "groups": await self.groups(),
            "workers": await self.workers(),
            "outbox": outbox,
        }
