"""Fan-out of "book figures changed" notices: one Redis pub/sub connection per API process,
any number of local subscribers per book. Reconnects by itself when Redis comes back.

Pub/sub delivers to whoever is subscribed at the time: notices published while the connection
was down are lost. So after a reconnection every local subscriber is notified once, and
re-reads its book's figures, which may have changed meanwhile."""

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
QUEUE_SIZE = 16


class StatsHub:
    def __init__(self, redis: Redis, channel: str) -> None:
        self.redis = redis
        self.channel = channel
        self.queues: dict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def _listen(self) -> None:
        lost = False
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    async for message in pubsub.listen():
                        kind = message.get("type")
                        if kind == "message":
                            self._deliver(message["data"])
                        elif kind == "subscribe":
                            # Confirmed: from now on no notice can be missed.
                            self._subscribed.set()
                            if lost:
                                lost = False
                                log.info("stats hub resubscribed; refreshing every subscriber")
                                for book_id in list(self.queues):
                                    self._deliver(book_id)
            except (RedisError, OSError) as error:
                self._subscribed.clear()
                lost = True
                log.warning("stats hub lost redis (%s); reconnecting", error)
                await asyncio.sleep(1.0)

    def _deliver(self, raw: bytes | str) -> None:
        book_id = raw.decode() if isinstance(raw, bytes) else raw
        for queue in list(self.queues.get(book_id, ())):
            if queue.full():  # a slow client gets the latest figures, not every step
                with suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(book_id)

    @asynccontextmanager
    async def subscribe(self, book_id: str) -> AsyncIterator["asyncio.Queue[str]"]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen())
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.queues[book_id].add(queue)
        try:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), timeout=5)
            yield queue
        finally:
            self.queues[book_id].discard(queue)
            if not self.queues[book_id]:
                del self.queues[book_id]

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
