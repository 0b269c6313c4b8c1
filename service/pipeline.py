"""The Redis side of the event pipeline, in one place: the names of its stream, consumer group,
dead-letter stream, stats channel and keys; the "figures changed" notice; the figures epochs
(global, shared and per book: service.response_cache says which entries carry which);
worker heartbeats (keys that expire, so a killed or paused worker drops out of the status by
itself); the backlog of our consumer group (events not applied yet, the oldest one's age,
workers alive) that /readyz judges; and the pipeline's status as `books worker status` and
/metrics report it.

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
UNKNOWN_LAG_COUNT = 10_000  # most undelivered entries counted when Redis cannot tell the lag


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


def _id_ms(entry_id: Any) -> int:
    """The time a stream entry was appended (ms since the epoch, Redis's clock): its id's
    first part."""
    return int(_text(entry_id).partition("-")[0])


@dataclass(frozen=True)
class Backlog:
    """What our consumer group has not applied yet: events delivered but not acknowledged plus
    events not delivered; the oldest one's age (0 when none); workers whose heartbeat is alive
    and says running (a paused or killed worker's expires)."""

    unapplied: int
    oldest_unapplied_seconds: float
    workers_alive: int

    def problems(self, max_age_seconds: float) -> list[str]:
        """Why the figures fall behind, in words (none: they keep up)."""
        found = []
        if self.oldest_unapplied_seconds > max_age_seconds:
            found.append(
                f"the oldest unapplied event is {self.oldest_unapplied_seconds:.1f} s old"
                f" (READY_MAX_EVENT_AGE_SECONDS={max_age_seconds:g})"
            )
        if self.unapplied and not self.workers_alive:
            found.append(f"{self.unapplied} events wait and no worker is alive")
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_pending": self.unapplied,
            "oldest_unapplied_seconds": round(self.oldest_unapplied_seconds, 3),
            "workers_alive": self.workers_alive,
        }


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

    async def _unapplied(self, groups: list[dict[str, Any]]) -> tuple[int, list[Any]]:
        """How many events our group has not applied, and the ids that may be the oldest."""
        stream = self.names.stream
        ours = next((g for g in groups if g["name"] == self.names.group), None)
        if ours is None:  # no worker ever made the group: every event in the stream waits
            first = await self.redis.xrange(stream, "-", "+", count=1) or []
            return await self.redis.xlen(stream), [first[0][0]] if first else []
        candidates: list[Any] = []
        if ours["pending"]:
            summary = await self.redis.xpending(stream, self.names.group)
            if summary["min"] is not None:  # None: acknowledged since XINFO answered
                candidates.append(summary["min"])
        after = f"({ours['last_delivered']}"
        lag = ours["lag"]
        undelivered = (
            await self.redis.xrange(
                stream, after, "+", count=1 if lag is not None else UNKNOWN_LAG_COUNT
            )
            or []
        )
        if undelivered:
            candidates.append(undelivered[0][0])
        return ours["pending"] + (lag if lag is not None else len(undelivered)), candidates

    async def backlog(
        self,
        groups: list[dict[str, Any]] | None = None,
        workers: list[dict[str, Any]] | None = None,
    ) -> Backlog:
        """Our group's backlog (see Backlog); `groups` and `workers` as `groups()` and
        `workers()` just gave them."""
        unapplied, candidates = await self._unapplied(
            await self.groups() if groups is None else groups
        )
        oldest = 0.0
        if candidates:
            seconds, micros = await self.redis.time()  # the clock the entry ids come from
            now_ms = int(seconds) * 1000 + int(micros) // 1000
            oldest = max(0.0, (now_ms - min(map(_id_ms, candidates))) / 1000)
        beating = await self.workers() if workers is None else workers
        alive = sum(1 for w in beating if w.get("state") == "running")
        return Backlog(unapplied, oldest, alive)

    async def status(self, outbox: int) -> dict[str, Any]:
        """The pipeline as operators see it; `outbox` comes from MongoDB."""
        groups, workers = await self.groups(), await self.workers()
        return {
            "stream": self.names.stream,
            "length": await self.redis.xlen(self.names.stream),
            "dead_letters": await self.redis.xlen(self.names.dead_letters),
            "groups": groups,
            "workers": workers,
            "backlog": (await self.backlog(groups, workers)).as_dict(),
            "outbox": outbox,
        }
