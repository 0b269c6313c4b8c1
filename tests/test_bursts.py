"""Bursts are coalesced: a batch holding a thousand events for one book costs one aggregate
write for that book, not a thousand.

The worker's MongoDB commands are counted with PyMongo's command monitoring (the
`CommandCounter` that `open_services` attaches to the worker's own client) while the real
`Worker` applies one batch read from the consumer group. The same thousand events spread over
a hundred books cost exactly the same commands: every kind of aggregate is recomputed with
`$in` queries over all its ids, 250 ids per query (service/batches.py: the embedded MongoDB on
SQLite refuses longer lists), and stored with one unordered bulk write.

What one batch of N events costs, whatever N, per 250 distinct books, users or reviews it names:

| command         | how many | why                                                           |
|-----------------|----------|---------------------------------------------------------------|
| findAndModify   | 1        | the batch's fence number (`figures.next_sequence`)          |
| aggregate       | per kind | book: 1 ($group of reviews by book, rating, shelf, has_text); |
|                 |          | user: 3 (text reviews, followers, following);                 |
|                 |          | review: 2 (likes, comments); author: 2 (followers, books)     |
| update          | per kind | one `bulk_write` of UpdateOne's is one `update` command       |
"""

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from bson import ObjectId
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from devtools.embedded import Servers
from service.events import Event, EventType
from service.ids import to_global_id
from service.services import Services, open_services
from service.settings import Settings
from tests.support.app import app_settings, running_app
from workers.reconcile import reconcile
from workers.runner import Worker
from workers.stream import Entry

BURST = 1000
BOOKS = 100
RATERS = 60  # entries stored as sources; the events name many more users than that

# Pinned figures (see the module docstring). Rating events touch two kinds: book and user.
# The thousand ratings are by a thousand users: their 3 parts run once per 250 user ids.
RATING_BATCH_COMMANDS = {"findAndModify": 1, "aggregate": 1 + 3 * 4, "update": 2}
# Events of every type touch all four kinds: 1 + 3 + 2 + 2 aggregates, 4 bulk writes (each
# kind's ids fit in one $in: 60 users, a few books, reviews and authors).
MIXED_BATCH_COMMANDS = {"findAndModify": 1, "aggregate": 1 + 3 + 2 + 2, "update": 4}
WRITE_COMMANDS = {"insert", "update", "delete", "findAndModify"}


@dataclass
class BurstWorld:
    settings: Settings
    services: Services
    worker: Worker
    books: list[ObjectId]
    authors: list[ObjectId]
    users: list[ObjectId]
    reviews: list[ObjectId]  # the stored entries, in insertion order
    ratings: dict[ObjectId, list[int]]  # per book, the stored entries' stars

    @property
    def hot(self) -> ObjectId:
        return self.books[0]

    @property
    def commands(self) -> dict[str, int]:
        return dict(self.services.commands.counts)


@pytest.fixture
async def world(servers: Servers) -> AsyncIterator[BurstWorld]:
    """A worker on a database of its own: 100 books, 60 rating entries, batches of 1000."""
    settings = app_settings(
        servers.mongodb_url,
        servers.redis_url,
        worker_batch_size=BURST,
        # No housekeeping during a test: its commands would blur the counts.
        sweep_interval_seconds=3600,
        trim_interval_seconds=3600,
        claim_idle_ms=3_600_000,
    )
    async with open_services(settings) as services:
        store = services.store
        rng = random.Random(7)
        authors = [ObjectId() for _ in range(3)]
        books = [ObjectId() for _ in range(BOOKS)]
        users = [ObjectId() for _ in range(BURST)]
        await store.authors.insert_many([{"_id": a, "name": f"author {a}"} for a in authors])
        await store.books.insert_many(
            [
                {"_id": b, "title": f"book {i}", "genres": [], "author_ids": [authors[i % 3]]}
                for i, b in enumerate(books)
            ]
        )
        await store.users.insert_many(
            [
                {"_id": u, "username": f"r{i}", "username_key": f"r{i}"}
                for i, u in enumerate(users[:RATERS])
            ]
        )
        # Two thirds of the entries are on the hot book, the rest on two others.
        entries = []
        ratings: dict[ObjectId, list[int]] = {b: [] for b in books}
        for i, user in enumerate(users[:RATERS]):
            book = books[0] if i % 3 else books[1 + i % 2]
            stars = rng.randint(1, 5)
            ratings[book].append(stars)
            entries.append(
                {
                    "_id": ObjectId(),
                    "user_id": user,
                    "book_id": book,
                    "shelf": "READ",
                    "rating": stars,
                    "text": "words" if i % 4 == 0 else None,
                    "has_text": i % 4 == 0,
                }
            )
        await store.reviews.insert_many(entries)
        await reconcile(store, fix=True)  # every figure right before the burst
        worker = Worker(services, "burst")
        await worker.stream.ensure_group()
        services.commands.reset()
        yield BurstWorld(
            settings, services, worker, books, authors, users, [e["_id"] for e in entries], ratings
        )


async def append(redis: Redis, key: str, events: list[Event]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.xadd(key, event.to_fields())  # type: ignore[arg-type]
        await pipe.execute()


async def one_batch(world: BurstWorld, events: list[Event]) -> list[Entry]:
    """Append the events, then read them as the worker does: they must all come in one batch."""
    await append(world.services.redis, world.settings.stream_key, events)
    entries = await world.worker.stream.read(
        world.worker.name, world.settings.worker_batch_size, 1000
    )
    assert len(entries) == len(events), "WORKER_BATCH_SIZE=1000 must hold the whole burst"
    return entries


def ratings_of(world: BurstWorld, books: list[ObjectId]) -> list[Event]:
    """BURST rating events, each by a different user, over `books` in turn."""
    return [
        Event(
            type=EventType.RATING_SET,
            user_id=str(world.users[i]),
            book_id=str(books[i % len(books)]),
        )
        for i in range(BURST)
    ]


async def assert_book_figures(world: BurstWorld, book: ObjectId) -> None:
    doc = await world.services.store.books.find_one({"_id": book})
    assert doc is not None
    stars = world.ratings[book]
    assert doc["rating_stats"]["counts"] == [stars.count(s) for s in range(1, 6)]
    assert doc["rating_stats"]["count"] == len(stars)
    assert doc["rating_stats"]["sum"] == sum(stars)
    assert doc["shelf_counts"]["read"] == len(stars)


async def assert_acknowledged(world: BurstWorld) -> None:
    pending = await world.services.redis.xpending(
        world.settings.stream_key, world.settings.consumer_group
    )
    assert pending["pending"] == 0


async def test_a_thousand_ratings_of_one_book_cost_one_write_for_it(world: BurstWorld) -> None:
    entries = await one_batch(world, ratings_of(world, [world.hot]))
    async with world.services.redis.pubsub() as notices:
        await notices.subscribe(world.settings.stats_channel)
        world.services.commands.reset()

        await world.worker._handle(entries)

        assert world.commands == RATING_BATCH_COMMANDS
        writes = sum(n for name, n in world.commands.items() if name in WRITE_COMMANDS)
        assert writes <= 5 < BURST
        # One "stats changed" notice for the book, not one per event.
        published = await drain_messages(notices)
    assert published == [str(world.hot)]
    assert world.worker.counters.batches == 1
    assert world.worker.counters.applied == BURST
    await assert_book_figures(world, world.hot)
    await assert_acknowledged(world)
    assert await reconcile(world.services.store, fix=False) == []


async def test_the_same_burst_over_a_hundred_books_costs_the_same_commands(
    world: BurstWorld,
) -> None:
    entries = await one_batch(world, ratings_of(world, world.books))
    world.services.commands.reset()

    await world.worker._handle(entries)

    # Not 100 aggregates and 100 updates: one $in query per part per 250 ids, one bulk write per
    # kind.
    assert world.commands == RATING_BATCH_COMMANDS
    for book in world.books[:3]:
        await assert_book_figures(world, book)
    await assert_acknowledged(world)
    assert await reconcile(world.services.store, fix=False) == []


async def test_a_burst_of_every_event_type_costs_one_write_per_kind(world: BurstWorld) -> None:
    """Entries, likes, comments and follows mixed: one aggregate round and one write per kind."""
    store = world.services.store
    hot_reviews = [
        r["_id"] for r in await store.reviews.find({"book_id": world.hot}, {"_id": 1}).to_list(None)
    ]
    liker, follower = world.users[0], world.users[1]
    await store.likes.insert_many([{"user_id": liker, "review_id": r} for r in hot_reviews[:5]])
    await store.comments.insert_one({"review_id": hot_reviews[0], "user_id": liker, "text": "hi"})
    await store.follows.insert_many(
        [
            {"follower_id": follower, "target_kind": "author", "target_id": world.authors[0]},
            {"follower_id": follower, "target_kind": "user", "target_id": liker},
        ]
    )
    kinds = [
        EventType.RATING_SET,
        EventType.RATING_CLEARED,
        EventType.SHELF_SET,
        EventType.REVIEW_WRITTEN,
        EventType.LIKE_ADDED,
        EventType.COMMENT_ADDED,
        EventType.FOLLOW_ADDED,
        EventType.FOLLOW_REMOVED,
    ]
    events = []
    for i in range(BURST):
        kind, user = kinds[i % len(kinds)], str(world.users[i % RATERS])
        if kind in (EventType.LIKE_ADDED, EventType.COMMENT_ADDED):
            events.append(Event(type=kind, user_id=user, review_id=str(hot_reviews[i % 5])))
        elif kind in (EventType.FOLLOW_ADDED, EventType.FOLLOW_REMOVED):
            target_kind = "author" if i % 2 else "user"
            target = world.authors[i % 3] if target_kind == "author" else world.users[i % 7]
            events.append(
                Event(type=kind, user_id=user, target_id=str(target), target_kind=target_kind)
            )
        else:
            events.append(Event(type=kind, user_id=user, book_id=str(world.hot)))
    entries = await one_batch(world, events)
    world.services.commands.reset()

    await world.worker._handle(entries)

    assert world.commands == MIXED_BATCH_COMMANDS
    await assert_book_figures(world, world.hot)
    first = await store.reviews.find_one({"_id": hot_reviews[0]})
    assert (first["likes_count"], first["comments_count"]) == (1, 1)
    author = await store.authors.find_one({"_id": world.authors[0]})
    assert (author["followers_count"], author["books_count"]) == (1, 34)
    assert await reconcile(store, fix=False) == []


async def test_the_worker_loop_applies_a_burst_in_one_batch(world: BurstWorld) -> None:
    """The real loop (`Worker.run`): 1000 queued events are one batch and one write per kind."""
    await append(world.services.redis, world.settings.stream_key, ratings_of(world, [world.hot]))
    world.services.commands.reset()
    task = asyncio.create_task(world.worker.run())
    try:
        async with asyncio.timeout(60):
            while world.worker.counters.applied < BURST:
                assert not task.done(), task
                await asyncio.sleep(0.05)
    finally:
        world.worker.stop()
        await asyncio.wait_for(task, 30)

    assert world.worker.counters.batches == 1
    # The loop's only other MongoDB command is an outbox sweep (a `find`), when one falls due.
    commands = world.commands
    assert commands.pop("find", 0) <= 1
    assert commands == RATING_BATCH_COMMANDS
    await assert_book_figures(world, world.hot)
    await assert_acknowledged(world)


async def test_the_api_reads_the_coalesced_figures(servers: Servers) -> None:
    """The figures one batched write stored are what the book query shows."""
    settings = app_settings(servers.mongodb_url, servers.redis_url, worker_batch_size=BURST)
    async with running_app(settings) as app:
        store = app.services.store
        book = ObjectId()
        await store.books.insert_one({"_id": book, "title": "hot", "genres": [], "author_ids": []})
        await store.reviews.insert_many(
            [
                {
                    "user_id": ObjectId(),
                    "book_id": book,
                    "shelf": "READ",
                    "rating": 1 + i % 5,
                    "has_text": False,
                }
                for i in range(10)
            ]
        )
        worker = Worker(app.services, "api-check")
        await worker.stream.ensure_group()
        events = [
            Event(type=EventType.RATING_SET, user_id=str(ObjectId()), book_id=str(book))
            for _ in range(BURST)
        ]
        await append(app.services.redis, settings.stream_key, events)
        await worker._handle(await worker.stream.read(worker.name, BURST, 1000))
        data = await app.client.data(
            "query($id: ID!) { book(id: $id) {"
            " ratingStats { count average } shelfCounts { read } } }",
            {"id": to_global_id("Book", book)},
        )
    assert data["book"]["ratingStats"]["count"] == 10
    assert data["book"]["ratingStats"]["average"] == pytest.approx(3.0)
    assert data["book"]["shelfCounts"]["read"] == 10


async def drain_messages(pubsub: PubSub, seconds: float = 0.5) -> list[str]:
    """The pub/sub messages received within `seconds`."""
    found: list[str] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        message = await pubsub.get_message(timeout=left)
        if message is not None and message["type"] == "message":
            data = message["data"]
            found.append(data.decode() if isinstance(data, bytes) else str(data))
    return found
