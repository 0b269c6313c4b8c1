"""A Redis cache for anonymous query responses. Entries carry the epochs current when they were
computed; the worker advances them (service.pipeline) after every batch it writes, so a cached
response never shows figures older than the last worker write that could change it.

Epochs, so that a rating of one book does not evict every other book's page:

- the global epoch: advanced by every batch (and by the CLI's rewrites). Entries of queries
  not scoped to one book carry it.
- a book's epoch: advanced by a batch whose events touch that book's entries only (ratings and
  shelves, `BOOK_LOCAL_EVENTS`: they change that book's figures and entries and nothing any
  other page shows).
- the shared epoch: advanced by every other batch (reviews with text change their reader's
  reviewsCount, shown on other books' pages; likes, comments, follows change figures shown
  anywhere) and by the CLI's rewrites.

A query whose only root field is `book(id:)` and whose selection stays within that book
(schema.cache_scope) is scoped to the book: its entry carries the shared epoch and the book's,
and stays fresh while both do. One MGET reads the entry and its epochs.
"""

import contextlib
import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.events import Event, EventType
from service.pipeline import PipelineNames

# Events whose changes show on their own book's pages only.
BOOK_LOCAL_EVENTS = frozenset({EventType.RATING_SET, EventType.RATING_CLEARED, EventType.SHELF_SET})


def stale_books(events: Iterable[Event]) -> set[str] | None:
    """The books whose cached responses a batch of events makes stale; None: any response."""
    books: set[str] = set()
    for event in events:
        if event.type not in BOOK_LOCAL_EVENTS or not event.book_id:
            return None
        books.add(event.book_id)
    return books


def _number(epoch: Any) -> bytes:
    return epoch or b"0"


class ResponseCache:
    def __init__(self, redis: Redis, prefix: str, names: PipelineNames, ttl_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.names = names
        self.ttl_seconds = ttl_seconds

    def key_of(self, query: str, variables: object, operation_name: str | None) -> str | None:
        """The entry's key; None when the variables cannot be encoded (never cached)."""
        try:
            raw = orjson.dumps([query, variables, operation_name], option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # e.g. nested deeper than orjson writes
            return None
        return f"{self.prefix}:response:{hashlib.sha256(raw).hexdigest()}"

    async def get(self, key: str, book: str | None = None) -> tuple[bytes | None, bytes]:
        """The cached body (None on a miss or a stale entry) and the current epochs, of the
        book's scope when `book` (an ObjectId hex) is given, else global."""
        names = self.names
        try:
            if book is None:
                found: list[Any] = await self.redis.mget(key, names.epoch)
                epoch = b"g" + _number(found[1])
            else:
                found = await self.redis.mget(key, names.shared_epoch, names.book_epoch(book))
                epoch = b"s" + _number(found[1]) + b"b" + _number(found[2])
        except (RedisError, OSError):
            return None, b""
        entry = found[0]
        if entry is None:
            return None, epoch
        stored_epoch, _, body = entry.partition(b"\n")
        return (body if stored_epoch == epoch else None), epoch

    async def put(self, key: str, epoch: bytes, body: bytes) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.set(key, epoch + b"\n" + body, ex=self.ttl_seconds)
