"""The event pipeline's state as Redis and MongoDB see it: read by `books worker status` and
exported by /metrics."""

from typing import Any

import orjson
from redis.exceptions import ResponseError

from service.mongo import Store


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def workers_key(stream_key: str) -> str:
    """The Redis hash where each worker publishes its counters."""
    return f"{stream_key}:workers"


async def pipeline_status(services: Any) -> dict[str, Any]:
    """`services`: anything with .settings, .redis and .store (a Services)."""
    settings = services.settings
    redis = services.redis
    store: Store = services.store
    groups = []
    try:
        raw_groups = await redis.xinfo_groups(settings.stream_key)
    except ResponseError:  # no stream yet
        raw_groups = []
    for group in raw_groups:
        groups.append(
            {
                "name": _text(group["name"]),
                "consumers": int(group["consumers"]),
                "pending": int(group["pending"]),
                "lag": group.get("lag"),
                "last_delivered": _text(group["last-delivered-id"]),
            }
        )
    workers = await redis.hgetall(workers_key(settings.stream_key))
    return {
        "stream": settings.stream_key,
        "length": await redis.xlen(settings.stream_key),
        "dead_letters": await redis.xlen(settings.dead_letter_stream),
        "groups": groups,
        "workers": [orjson.loads(v) for v in workers.values()],
        "outbox": await store.outbox.count_documents({}),
    }
