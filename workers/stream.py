"""The Redis side of the worker: consumer group, reads, claims, acks, dead letters, trimming."""

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from service.pipeline import PipelineNames

Entry = tuple[str, dict[str, str]]  # stream id, fields


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(raw: Any) -> list[Entry]:
    found: list[Entry] = []
    for entry_id, fields in raw or []:
        if fields is None:  # deleted while pending
            continue
        found.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
    return found


@dataclass
class EventStream:
    redis: Redis
    key: str
    group: str
    dead_letters: str

    @classmethod
    def of(cls, redis: Redis, names: PipelineNames) -> "EventStream":
        return cls(redis, names.stream, names.group, names.dead_letters)

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        reply: Any = await self.redis.xreadgroup(
            self.group, consumer, {self.key: ">"}, count=count, block=block_ms
        )
        return _entries(reply[0][1]) if reply else []

    async def own_pending(self, consumer: str, count: int) -> list[Entry]:
        """What this consumer was given but never acknowledged (a restart under the same name)."""
        reply: Any = await self.redis.xreadgroup(self.group, consumer, {self.key: "0"}, count=count)
        return _entries(reply[0][1]) if reply else []

    async def claim_idle(self, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over events another consumer left pending for `min_idle_ms` (it crashed)."""
        reply = await self.redis.xautoclaim(
            self.key, self.group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
        )
        return _entries(reply[1])

    async def ack(self, ids: list[str]) -> None:
        if ids:
            await self.redis.xack(self.key, self.group, *ids)

    async def deliveries(self, entry_id: str) -> int:
        info = await self.redis.xpending_range(self.key, self.group, entry_id, entry_id, 1)
        return int(info[0]["times_delivered"]) if info else 0

    async def dead_letter(self, entry: Entry, error: str) -> None:
        """Move an event that keeps failing aside, with its error, and acknowledge it."""
        entry_id, fields = entry
        letter: dict[Any, Any] = {**fields, "stream_id": entry_id, "error": error[:2000]}
        await self.redis.xadd(self.dead_letters, letter)
        await self.ack([entry_id])

    async def trim(self) -> int:
        """Drop events every group has acknowledged; never an unacknowledged one."""
        groups = await self.redis.xinfo_groups(self.key)
        if not groups:
            return 0
        floor: str | None = None
        for group in groups:
            candidates = [_text(group["last-delivered-id"])]
            if int(group["pending"]):
                summary = await self.redis.xpending(self.key, _text(group["name"]))
                if summary["min"] is not None:  # None: acknowledged since XINFO answered
                    candidates.append(_text(summary["min"]))
            for candidate in candidates:
                if floor is None or _id_key(candidate) < _id_key(floor):
                    floor = candidate
        if floor is None or floor == "0-0":
            return 0
        return int(await self.redis.xtrim(self.key, minid=floor, approximate=False))


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
