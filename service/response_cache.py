"""A Redis cache for anonymous query responses. Entries carry the "figures epoch" current
when they were computed; the worker advances the epoch (service.pipeline) after every batch it
writes, so a cached response never shows figures older than the last worker write."""

import contextlib
import hashlib
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError


class ResponseCache:
    def __init__(self, redis: Redis, prefix: str, epoch_key: str, ttl_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.epoch_key = epoch_key
        self.ttl_seconds = ttl_seconds

    def key_of(self, query: str, variables: object, operation_name: str | None) -> str | None:
        """The entry's key; None when the variables cannot be encoded (never cached)."""
        try:
            raw = orjson.dumps([query, variables, operation_name], option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # e.g. nested deeper than orjson writes
            return None
        return f"{self.prefix}:response:{hashlib.sha256(raw).hexdigest()}"

    async def get(self, key: str) -> tuple[bytes | None, bytes]:
        """The cached body (None on a miss or a stale entry) and the current epoch."""
        try:
            found: list[Any] = await self.redis.mget(key, self.epoch_key)
            entry, stored = found
        except (RedisError, OSError):
            return None, b""
        epoch: bytes = stored or b"0"
        if entry is None:
            return None, epoch
        stored_epoch, _, body = entry.partition(b"\n")
        return (body if stored_epoch == epoch else None), epoch

    async def put(self, key: str, epoch: bytes, body: bytes) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.set(key, epoch + b"\n" + body, ex=self.ttl_seconds)
