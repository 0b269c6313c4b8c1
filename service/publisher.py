"""Appending events after source writes, with an outbox so that no change goes uncounted.

Order of a change: (1) insert the event into the `outbox` collection, (2) write the source
document, (3) XADD the event, now completed with what the write returned (a rating's previous
stars), (4) delete the outbox entry. If Redis cannot take it at (3), the outbox entry is
replaced by the completed event and marked confirmed. A crash after (1) or (2) leaves the
entry as recorded before the write: `sweep_outbox` re-publishes it after a grace period,
marked `recovered` (its change may not have happened, and it lacks what only the write knew).
Such an event is harmless to our worker, which recomputes figures from the source documents.
"""

import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.errors import PyMongoError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.events import Event, is_legacy
from service.mongo import Store

log = logging.getLogger(__name__)


class Change:
    """Handle a mutation gets while it writes: `record()` what the write told about the change,
    `discard()` when nothing changed after all."""

    def __init__(self, event: Event) -> None:
        self.event = event
        self.discarded = False

    def record(self, **change: Any) -> None:
        self.event = self.event.with_change(**change)

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
        fields = handle.event.to_fields()
        if await self.append(fields):
            await self._forget(outbox_id)
        else:
            await self._confirm(outbox_id, fields)

    async def append(self, fields: Mapping[str, str]) -> bool:
        """XADD one event's fields; False (and the outbox keeps it) when Redis cannot take it."""
        try:
            await self.redis.xadd(self.stream_key, dict(fields))  # type: ignore[arg-type]
        except (RedisError, OSError) as error:
            log.warning(
                "event %s left in the outbox: redis unavailable (%s)", fields.get("id"), error
            )
            return False
        return True

    async def _confirm(self, outbox_id: str, fields: dict[str, str]) -> None:
        """The write happened: the sweep is to publish the completed event, not a recovered one."""
        try:
            await self.store.outbox.update_one(
                {"_id": outbox_id}, {"$set": {"event": fields, "confirmed": True}}
            )
        except PyMongoError as error:  # the entry recorded before the write stays
            log.warning("outbox entry %s not confirmed (%s)", outbox_id, error)

    async def _forget(self, outbox_id: str) -> None:
        await self.store.outbox.delete_one({"_id": outbox_id})


async def outbox_size(store: Store) -> int:
    """Changes whose events are not published yet (status and metrics)."""
    return int(await store.outbox.count_documents({}))


def republished_fields(entry: Mapping[str, Any]) -> dict[str, str]:
    """What the sweep appends for an outbox entry; ValueError when it holds no valid event.

    A confirmed entry is the completed event; an unconfirmed one is marked `recovered`; a
    legacy entry (recorded before version 1) goes out as it was recorded."""
    stored: dict[str, str] = entry["event"]
    event = Event.from_fields(stored)
    if is_legacy(stored) or entry.get("confirmed"):
        return stored
    return replace(event, recovered=True).to_fields()


async def sweep_outbox(publisher: EventPublisher, older_than_seconds: float) -> int:
    """Re-publish outbox entries older than the grace period; the number published."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
    published = 0
    async for entry in publisher.store.outbox.find({"created_at": {"$lt": cutoff}}).sort(
        "created_at", 1
    ):
        try:
            fields = republished_fields(entry)
        except ValueError:
            log.error("dropping malformed outbox entry %s", entry["_id"])
            await publisher._forget(entry["_id"])
            continue
        if not await publisher.append(fields):
            break
        await publisher._forget(entry["_id"])
        published += 1
    return published
