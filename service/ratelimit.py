"""Rate limits per viewer (or client address when anonymous), kept in Redis through the
`limits` library so that every API process counts against the same windows."""

import logging
import math
import time
from dataclasses import dataclass
from enum import StrEnum

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from service.errors import ServiceError

log = logging.getLogger(__name__)

UNAVAILABLE_RETRY_SECONDS = 5


class RateLimited(ServiceError):
    code = "RATE_LIMITED"
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def extensions(self) -> dict[str, object]:
        return {"code": self.code, "retryAfter": self.retry_after}


class RateLimitUnavailable(RateLimited):
    """The limits cannot be checked (Redis unreachable) and the policy is to fail closed: the
    service, not the client, is at fault."""

    code = "SERVICE_UNAVAILABLE"
    status_code = 503


class Bucket(StrEnum):
    AUTH = "auth"  # signUp, logIn: strict, against password guessing
    WRITE = "write"  # every other mutation
    READ = "read"  # queries


@dataclass(frozen=True)
class Policy:
    auth: str = "10/minute"
    write: str = "120/minute"
    read: str = "1200/minute"
    fail_open: bool = True


class RateLimiter:
    def __init__(
        self,
        redis_url: str,
        policy: Policy,
        prefix: str = "ratelimit",
        timeout_seconds: float = 1.0,
    ) -> None:
        self.policy = policy
        storage = RedisStorage(
            f"async+{redis_url}",
            implementation="redispy",
            key_prefix=prefix,
            wrap_exceptions=True,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
        )
        self.limiter = SlidingWindowCounterRateLimiter(storage)
        self.items: dict[Bucket, RateLimitItem] = {
            Bucket.AUTH: parse(policy.auth),
            Bucket.WRITE: parse(policy.write),
            Bucket.READ: parse(policy.read),
        }

    async def hit(self, bucket: Bucket, who: str, cost: int = 1) -> None:
        """Count `cost` requests of `who`; RateLimited when over the bucket's limit."""
        item = self.items[bucket]
        try:
            allowed = await self.limiter.hit(item, bucket.value, who, cost=cost)
            if allowed:
                return
            stats = await self.limiter.get_window_stats(item, bucket.value, who)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        except Exception as error:  # the limits library wraps storage failures
            if self.policy.fail_open:
                log.warning("rate limiting skipped: storage unavailable (%s)", error)
                return
            raise RateLimitUnavailable(
                "the service is temporarily unavailable (rate limits cannot be checked);"
                " try again shortly",
                UNAVAILABLE_RETRY_SECONDS,
            ) from error
        raise RateLimited(
            f"too many {bucket.value} requests; retry in {retry_after} s", retry_after
        )
