"""`books events tail` and `books events groups`: the event stream as an operator watches it.
They need Redis only."""

import asyncio
import signal
import sys
from typing import Any

import orjson
from redis.asyncio import Redis

from service.events import structured
from service.pipeline import Pipeline, PipelineNames
from service.services import redis_client
from service.settings import Settings

TAIL_CLIENT_NAME = "books-events-tail"
TAIL_BATCH = 100


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _last_id(redis: Redis, stream: str) -> str:
    """The newest entry's id ("0-0" for no stream): reading on from it misses nothing appended
    between two reads, as reading from `$` each time would."""
    newest = await redis.xrevrange(stream, count=1)
    return _text(newest[0][0]) if newest else "0-0"


async def _tail(settings: Settings, types: set[str]) -> int:
    stream = PipelineNames.of(settings).stream
    redis = redis_client(settings, TAIL_CLIENT_NAME)
    loop = asyncio.get_running_loop()
    reading = asyncio.current_task()
    assert reading is not None
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop between two lines, exit 0
        loop.add_signal_handler(sig, reading.cancel)
    try:
        last = await _last_id(redis, stream)
        while True:
            reply: Any = await redis.xread(
                {stream: last}, count=TAIL_BATCH, block=settings.worker_block_ms
            )
            for entry_id, fields in reply[0][1] if reply else []:
                last = _text(entry_id)
                event = structured(fields)
                if not types or event.get("type") in types:
                    sys.stdout.write(orjson.dumps(event).decode() + "\n")
            sys.stdout.flush()
    except asyncio.CancelledError:
        return 0
    finally:
        await redis.aclose()


def tail(settings: Settings, types: list[str] | None) -> int:
    return asyncio.run(_tail(settings, set(types or ())))


async def _groups(settings: Settings) -> int:
    redis = redis_client(settings)
    try:
        pipeline = Pipeline(redis, PipelineNames.of(settings), settings.worker_heartbeat_seconds)
        groups = await pipeline.groups()
    finally:
        await redis.aclose()
    print(orjson.dumps(groups, option=orjson.OPT_INDENT_2).decode())
    return 0


def groups(settings: Settings) -> int:
    return asyncio.run(_groups(settings))
