"""Appending events after source writes, with an outbox so that no change goes uncounted.

Order of a change: (1) insert the event into the `outbox` collection, (2) write the source
document, (3) XADD the event, (4) delete the outbox entry. A crash after (1) or (2), or Redis
being down at (3), leaves the outbox entry; `sweep_outbox` re-publishes it after a grace
period. A re-published event whose change never happened is harmless: the worker recomputes
figures from the source documents.
"""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.events import Event
from service.mongo import Store

log = logging.getLogger(__name__)


class Change:
    """Handle a mutation gets while it writes; `discard()` when nothing changed after all."""

    def __init__(self, event: Event) -> None:
        self.event = event
        self.discarded = False

    def discard(self) -> None:
        self.discarded = True


class EventPublisher:
    def __init__(
        self, store: Store, redis: Redis, stream_key: str, exit_before_publish: bool = False
    ) -> None:
        self.store = store
        self.redis = redis
        self.stream_key = stream_key  # PipelineNames.stream
        self.exit_before_publish = exit_before_publish

    @asynccontextmanager
    async def change(self, event: Event) -> AsyncIterator[Change]:
        """Record `event` in the outbox, run the source write, then publish it."""
        outbox_id = event.id
        await self.store.outbox.insert_one(
            {"_id": outbox_id, "event": event.to_fields(), "created_at": datetime.now(UTC)}
        )
        handle = Change(event)
        try:
            yield handle
        except BaseException:
            await self._forget(outbox_id)
            raise
        if handle.discarded:
            await self._forget(outbox_id)
            return
        if self.exit_before_publish:  # fault tests: die between the write and the append
            log.critical("fault hook: exiting before publishing event %s", event.id)
            os._exit(70)
        if await self.append(event):
            await self._forget(outbox_id)

    async def append(self, event: Event) -> bool:
        """XADD one event; False (and the outbox keeps it) when Redis cannot take it."""
        try:
            await self.redis.xadd(self.stream_key, event.to_fields())  # type: ignore[arg-type]
        except (RedisError, OSError) as error:
            log.warning("event %s left in the outbox: redis unavailable (%s)", event.id, error)
            return False
        return True

    async def _forget(self, outbox_id: str) -> None:
        await self.store.outbox.delete_one({"_id": outbox_id})


async def outbox_size(store: Store) -> int:
    """Changes whose events are not published yet (status and metrics)."""
    return int(await store.outbox.count_documents({}))


async def sweep_outbox(publisher: EventPublisher, older_than_seconds: float) -> int:
    """Re-publish outbox entries older than the grace period; the number published."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
    published = 0
    async for entry in publisher.store.outbox.find({"created_at": {"$lt": cutoff}}).sort(
        "created_at", 1
    ):
        try:
            event = Event.from_fields(entry["event"])
        except ValueError:
            log.error("dropping malformed outbox entry %s", entry["_id"])
            await publisher._forget(entry["_id"])
            continue
        if not await publisher.append(event):
            break
        await publisher._forget(entry["_id"])
        published += 1
    return published
