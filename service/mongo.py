"""MongoDB access: the client, the collections of the service and their indexes."""

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pymongo import ASCENDING, DESCENDING, TEXT, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.monitoring import CommandListener

from service.settings import Settings

Document = dict[str, Any]


class CommandCounter(CommandListener):
    """Counts commands sent to MongoDB by name; tests and metrics read it."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def reset(self) -> None:
        self.counts.clear()

    def started(self, event: Any) -> None:
        name = event.command_name
        if name in {"hello", "isMaster", "ismaster", "ping", "endSessions", "killCursors"}:
            return
        self.counts[name] = self.counts.get(name, 0) + 1

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


def make_client(
    url: str, settings: Settings, counter: CommandCounter | None = None
) -> AsyncMongoClient:
    return AsyncMongoClient(
        url,
        tz_aware=True,
        serverSelectionTimeoutMS=settings.mongodb_timeout_ms,
        connectTimeoutMS=settings.mongodb_timeout_ms,
        socketTimeoutMS=settings.mongodb_timeout_ms,
        event_listeners=[counter] if counter else [],
        appname="bookservice",
    )


@dataclass(frozen=True)
class Store:
    """The service's collections in one database (each collection object made once: a
    request's loaders and repositories ask for them again and again)."""

    db: AsyncDatabase

    @cached_property
    def books(self) -> AsyncCollection:
        return self.db["books"]

    @cached_property
    def authors(self) -> AsyncCollection:
        return self.db["authors"]

    @cached_property
    def users(self) -> AsyncCollection:
        return self.db["users"]

    @cached_property
    def reviews(self) -> AsyncCollection:
        """One entry per (user, book): shelf, rating and text."""
        return self.db["reviews"]

    @cached_property
    def likes(self) -> AsyncCollection:
        return self.db["likes"]

    @cached_property
    def comments(self) -> AsyncCollection:
        return self.db["comments"]

    @cached_property
    def follows(self) -> AsyncCollection:
        return self.db["follows"]

    @cached_property
    def outbox(self) -> AsyncCollection:
        """Events written before their source change and removed once published."""
        return self.db["outbox"]

    @cached_property
    def meta(self) -> AsyncCollection:
        return self.db["meta"]


def _newest(*fields: str) -> list[tuple[str, int]]:
    return [(f, ASCENDING) for f in fields] + [("created_at", DESCENDING), ("_id", DESCENDING)]


INDEXES: dict[str, list[IndexModel]] = {
    "books": [
        IndexModel([("author_ids", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("title", TEXT), ("subtitle", TEXT)], name="book_text"),
    ],
    "users": [
        IndexModel([("username_key", ASCENDING)], unique=True),
        # A display name is checked against every other (users._require_own_name).
        IndexModel([("display_key", ASCENDING)]),
    ],
    "reviews": [
        IndexModel([("user_id", ASCENDING), ("book_id", ASCENDING)], unique=True),
        # Book page orders: POPULAR, NEWEST/OLDEST, and the stars filter.
        IndexModel(
            [
                ("book_id", ASCENDING),
                ("has_text", ASCENDING),
                ("likes_count", DESCENDING),
                ("created_at", DESCENDING),
                ("_id", DESCENDING),
            ]
        ),
        IndexModel(_newest("book_id", "has_text")),
        IndexModel(_newest("book_id", "has_text", "rating")),
        # A user's shelves, newest first, optionally one shelf.
        IndexModel(_newest("user_id")),
        IndexModel(_newest("user_id", "shelf")),
        # Recomputing a book's figures.
        IndexModel([("book_id", ASCENDING), ("rating", ASCENDING)]),
        IndexModel([("book_id", ASCENDING), ("shelf", ASCENDING)]),
        IndexModel([("text", TEXT)], name="review_text"),
    ],
    "likes": [
        IndexModel([("user_id", ASCENDING), ("review_id", ASCENDING)], unique=True),
        IndexModel([("review_id", ASCENDING)]),
    ],
    "comments": [
        IndexModel([("review_id", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)])
    ],
    "follows": [
        IndexModel(
            [("follower_id", ASCENDING), ("target_kind", ASCENDING), ("target_id", ASCENDING)],
            unique=True,
        ),
        IndexModel([("target_kind", ASCENDING), ("target_id", ASCENDING)]),
    ],
    "outbox": [IndexModel([("created_at", ASCENDING)])],
}


async def ensure_indexes(store: Store) -> None:
    """Create every index the queries rely on; a no-op when they exist."""
    for collection, models in INDEXES.items():
        await store.db[collection].create_indexes(models)
