"""The aggregation worker as a real process (`books worker run`) on the real Redis stream.

Every test gets its own database and stream; workers and API servers are child processes
started from tests/processes.py and always stopped by `running(...)`. Nothing is mocked and no
test asserts wall time: a test polls until a condition holds or a generous deadline passes.

Helpers shared with test_worker_faults.py live here.
"""

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from bson import ObjectId

from devtools.embedded import Servers
from service.documents import empty_rating_stats, empty_shelf_counts
from service.events import Event, EventType
from service.ids import to_global_id
from service.pipeline import PipelineNames
from service.settings import Settings
from tests.processes import Child, running, settings_env, start_api, start_worker
from tests.support import (
    AppUnderTest,
    GraphQLClient,
    app_settings,
    review_doc,
    running_app,
    user_doc,
)
from workers.reconcile import reconcile
from workers.stream import EventStream

DEADLINE = 20.0  # seconds a figure may take to become exact before a test gives up
T0 = datetime(2020, 1, 1, tzinfo=UTC)

# --- the world of one test --------------------------------------------------------------------


@dataclass
class Catalog:
    """Source documents the API has no mutation for: authors and books."""

    authors: list[ObjectId]
    books: list[ObjectId]

    def book(self, i: int) -> str:
        return to_global_id("Book", self.books[i])

    def author(self, i: int) -> str:
        return to_global_id("Author", self.authors[i])


async def seed_catalog(app: AppUnderTest) -> Catalog:
    """Two authors, two books (the second by both authors), aggregates reconciled."""
    store = app.services.store
    authors = [ObjectId(), ObjectId()]
    books = [ObjectId(), ObjectId()]
    await store.authors.insert_many(
        [
            {"_id": a, "name": f"Author {i}", "bio": None, "photo_url": None}
            | {"books_count": 0, "followers_count": 0}
            for i, a in enumerate(authors)
        ]
    )
    await store.books.insert_many(
        [
            {
                "_id": b,
                "title": f"Book {i}",
                "genres": [],
                "author_ids": authors[: i + 1],
                "rating_stats": empty_rating_stats(),
                "shelf_counts": empty_shelf_counts(),
                "reviews_count": 0,
            }
            for i, b in enumerate(books)
        ]
    )
    await reconcile(store, fix=True)  # authors' booksCount comes from the catalog
    return Catalog(authors, books)


@dataclass
class World:
    """One test's settings, an in-process API on its database, and its seeded catalog."""

    settings: Settings
    app: AppUnderTest
    catalog: Catalog
    children: list[Child] = field(default_factory=list)

    @property
    def client(self) -> GraphQLClient:
        return self.app.client

    @property
    def redis(self) -> Any:
        return self.app.services.redis

    @property
    def store(self) -> Any:
        return self.app.services.store

    @property
    def stream(self) -> EventStream:
        s = self.settings
        return EventStream(self.redis, s.stream_key, s.consumer_group, s.dead_letter_stream)

    async def pending(self, consumer: str | None = None) -> int:
        """Events delivered to the group (or to one consumer) and not acknowledged."""
        s = self.settings
        if consumer is None:
            summary = await self.redis.xpending(s.stream_key, s.consumer_group)
            return int(summary["pending"])
        rows = await self.redis.xpending_range(
            s.stream_key, s.consumer_group, "-", "+", 10_000, consumername=consumer
        )
        return len(rows)

    async def group(self) -> dict[str, Any]:
        for group in await self.redis.xinfo_groups(self.settings.stream_key):
            name = group["name"]
            if (name.decode() if isinstance(name, bytes) else name) == self.settings.consumer_group:
                return dict(group)
        raise AssertionError("no consumer group")

    async def stream_ids(self) -> list[str]:
        return [_text(i) for i, _ in await self.redis.xrange(self.settings.stream_key)]

    async def dead_letters(self) -> list[dict[str, str]]:
        raw = await self.redis.xrange(self.settings.dead_letter_stream)
        return [{_text(k): _text(v) for k, v in fields.items()} for _, fields in raw]

    async def outbox(self) -> int:
        return int(await self.store.outbox.count_documents({}))

    async def drift(self) -> list[str]:
        return [str(d) for d in await reconcile(self.store, fix=False)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@asynccontextmanager
async def world(
    servers: Servers, redis_url: str | None = None, **overrides: Any
) -> AsyncIterator[World]:
    """Settings of a database and stream of the test's own (Redis: the session's unless
    `redis_url`), with workers waiting at most 0.2 s for events so housekeeping runs often."""
    overrides.setdefault("worker_block_ms", 200)
    settings = app_settings(servers.mongodb_url, redis_url or servers.redis_url, **overrides)
    async with running_app(settings) as app:
        yield World(settings, app, await seed_catalog(app))


@asynccontextmanager
async def http_client(url: str) -> AsyncIterator[GraphQLClient]:
    """A GraphQL client for an API server process."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield GraphQLClient(http)


# --- waiting for conditions -------------------------------------------------------------------


async def eventually(
    check: Callable[[], Awaitable[Any]],
    what: str,
    *watched: Child,
    deadline: float = DEADLINE,
) -> Any:
    """Poll `check` until it returns a truthy value; fail after `deadline` seconds, or as soon
    as a watched child exits (with its log, which says why)."""
    until = time.monotonic() + deadline
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        for child in watched:
            if child.process.poll() is not None:
                raise AssertionError(
                    f"{child.name} exited ({child.process.returncode}) while waiting for {what}:\n"
                    f"{child.output()[-4000:]}"
                )
        if time.monotonic() > until:
            logs = "\n".join(f"--- {c.name}\n{c.output()[-3000:]}" for c in watched)
            raise AssertionError(f"gave up waiting for {what} (last: {last!r})\n{logs}")
        await asyncio.sleep(0.1)


async def wait_consumer(w: World, name: str, child: Child) -> None:
    """Until `name` is a consumer of the group (the worker has read once, signals handled)."""

    async def present() -> bool:
        try:
            consumers = await w.redis.xinfo_consumers(
                w.settings.stream_key, w.settings.consumer_group
            )
        except Exception:  # no stream or group yet
            return False
        return any(_text(c["name"]) == name for c in consumers)

    await eventually(present, f"consumer {name}", child)


async def wait_blocked_reader(w: World, child: Child) -> None:
    """Until some client is blocked in XREADGROUP: the worker waits for new events, so the
    next XADD is delivered to it at once. (Tests run one at a time; ours is the only worker.)"""

    async def blocked() -> bool:
        clients = await w.redis.client_list()
        return any(c.get("cmd") == "xreadgroup" and "b" in c.get("flags", "") for c in clients)

    await eventually(blocked, "a worker blocked in XREADGROUP", child)


def worker_status(settings: Settings) -> dict[str, Any]:
    """`books worker status`, run as a command, parsed."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker", "status"],
        env=settings_env(settings),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def status_of(status: dict[str, Any], worker: str) -> dict[str, Any] | None:
    return next((w for w in status["workers"] if w["name"] == worker), None)


# --- figures as the API shows them ------------------------------------------------------------

FIGURES = """
fragment F on Node {
  id
  ... on Book {
    reviewsCount
    ratingStats { count average histogram { stars count } }
    shelfCounts { wantToRead currentlyReading read }
  }
  ... on Review { likesCount commentsCount }
  ... on User { reviewsCount followersCount followingCount }
  ... on Author { followersCount booksCount }
}
"""


async def figures(client: GraphQLClient, ids: list[str]) -> dict[str, Any]:
    """The aggregate figures of the nodes `ids`, read through GraphQL."""
    fields = " ".join(f'n{i}: node(id: "{node_id}") {{ ...F }}' for i, node_id in enumerate(ids))
    data = await client.data(f"query {{ {fields} }}" + FIGURES)
    return {node_id: data[f"n{i}"] for i, node_id in enumerate(ids)}


def book_figures(
    node_id: str, stars: dict[int, int], shelves: tuple[int, int, int], reviews: int
) -> dict[str, Any]:
    """What a book shows for ratings `stars` ({stars: count}), (want, reading, read) shelves."""
    count = sum(stars.values())
    total = sum(s * n for s, n in stars.items())
    return {
        "id": node_id,
        "reviewsCount": reviews,
        "ratingStats": {
            "count": count,
            "average": total / count if count else 0.0,
            "histogram": [{"stars": s, "count": stars.get(s, 0)} for s in (5, 4, 3, 2, 1)],
        },
        "shelfCounts": {
            "wantToRead": shelves[0],
            "currentlyReading": shelves[1],
            "read": shelves[2],
        },
    }


def review_figures(node_id: str, likes: int, comments: int) -> dict[str, Any]:
    return {"id": node_id, "likesCount": likes, "commentsCount": comments}


def user_figures(node_id: str, reviews: int, followers: int, following: int) -> dict[str, Any]:
    return {
        "id": node_id,
        "reviewsCount": reviews,
        "followersCount": followers,
        "followingCount": following,
    }


def author_figures(node_id: str, followers: int, books: int) -> dict[str, Any]:
    return {"id": node_id, "followersCount": followers, "booksCount": books}


async def until_exact(
    w: World, client: GraphQLClient, expected: dict[str, Any], *watched: Child
) -> None:
    """Poll the API until every figure in `expected` shows, then reconcile finds no drift."""
    ids = list(expected)
    latest: dict[str, Any] = {}

    async def exact() -> bool:
        latest.update(await figures(client, ids))
        return latest == expected

    try:
        await eventually(exact, "exact figures", *watched)
    except AssertionError:
        wrong = {k: (latest.get(k), v) for k, v in expected.items() if latest.get(k) != v}
        raise AssertionError(f"figures (shown, expected) never matched: {wrong}") from None
    assert await w.drift() == []


# --- mutations --------------------------------------------------------------------------------

RATE = "mutation($b: ID!, $s: Int!) { rateBook(bookId: $b, stars: $s) { id } }"
SHELVE = "mutation($b: ID!, $s: Shelf) { setShelf(bookId: $b, shelf: $s) { id } }"
WRITE = "mutation($i: WriteReviewInput!) { writeReview(input: $i) { id } }"
DELETE_REVIEW = "mutation($id: ID!) { deleteReview(id: $id) }"
LIKE = "mutation($r: ID!) { likeReview(reviewId: $r) { id } }"
UNLIKE = "mutation($r: ID!) { unlikeReview(reviewId: $r) { id } }"
COMMENT = "mutation($r: ID!, $t: String!) { addComment(reviewId: $r, text: $t) { id } }"
DELETE_COMMENT = "mutation($id: ID!) { deleteComment(id: $id) }"
FOLLOW_USER = "mutation($u: ID!) { followUser(userId: $u) { id } }"
UNFOLLOW_USER = "mutation($u: ID!) { unfollowUser(userId: $u) { id } }"
FOLLOW_AUTHOR = "mutation($a: ID!) { followAuthor(authorId: $a) { id } }"
UNFOLLOW_AUTHOR = "mutation($a: ID!) { unfollowAuthor(authorId: $a) { id } }"


async def rate(client: GraphQLClient, token: str, book: str, stars: int) -> str:
    data = await client.data(RATE, {"b": book, "s": stars}, token)
    return str(data["rateBook"]["id"])


async def every_aggregate_script(client: GraphQLClient, catalog: Catalog) -> dict[str, Any]:
    """Mutations that touch every aggregate the worker maintains (including undoing some);
    the figures they must lead to, by node id."""
    book1, book2 = catalog.book(0), catalog.book(1)
    author1, author2 = catalog.author(0), catalog.author(1)
    (alice, alice_id), (bob, bob_id), (carol, carol_id) = [await client.sign_up() for _ in range(3)]

    # Ratings and shelves; carol changes her mind, bob moves book1 to "currently reading".
    alice_b1 = await rate(client, alice, book1, 5)
    await rate(client, bob, book1, 3)
    await rate(client, carol, book1, 4)
    carol_b1 = await rate(client, carol, book1, 2)
    await client.data(SHELVE, {"b": book1, "s": "CURRENTLY_READING"}, bob)
    await client.data(SHELVE, {"b": book2, "s": "WANT_TO_READ"}, alice)
    # Review texts: carol's goes away again (with its comment).
    await client.data(WRITE, {"i": {"bookId": book1, "text": "Loved it", "rating": 5}}, alice)
    await client.data(WRITE, {"i": {"bookId": book1, "text": "Not for me"}}, carol)
    bob_b2 = (
        await client.data(WRITE, {"i": {"bookId": book2, "text": "Solid", "rating": 4}}, bob)
    )["writeReview"]["id"]
    # Likes and comments.
    await client.data(LIKE, {"r": alice_b1}, bob)
    await client.data(LIKE, {"r": alice_b1}, carol)
    await client.data(LIKE, {"r": alice_b1}, carol)  # a repeat changes nothing
    await client.data(LIKE, {"r": bob_b2}, carol)
    await client.data(UNLIKE, {"r": alice_b1}, carol)
    await client.data(COMMENT, {"r": alice_b1, "t": "Agreed"}, bob)
    second = (await client.data(COMMENT, {"r": alice_b1, "t": "Typo"}, bob))["addComment"]["id"]
    await client.data(DELETE_COMMENT, {"id": second}, bob)
    await client.data(COMMENT, {"r": carol_b1, "t": "Why?"}, alice)
    await client.data(DELETE_REVIEW, {"id": carol_b1}, carol)
    # Follows of users and authors.
    await client.data(FOLLOW_USER, {"u": bob_id}, alice)
    await client.data(FOLLOW_USER, {"u": bob_id}, carol)
    await client.data(FOLLOW_USER, {"u": alice_id}, bob)
    await client.data(UNFOLLOW_USER, {"u": bob_id}, carol)
    await client.data(FOLLOW_AUTHOR, {"a": author1}, alice)
    await client.data(FOLLOW_AUTHOR, {"a": author1}, bob)
    await client.data(UNFOLLOW_AUTHOR, {"a": author1}, bob)
    await client.data(FOLLOW_AUTHOR, {"a": author2}, carol)

    # book1: alice READ 5 with text, bob CURRENTLY_READING 3 (carol's entry deleted).
    # book2: alice WANT_TO_READ, bob READ 4 with text.
    # followingCount counts every follow edge of the user, users and authors alike.
    return {
        book1: book_figures(book1, {5: 1, 3: 1}, (0, 1, 1), reviews=1),
        book2: book_figures(book2, {4: 1}, (1, 0, 1), reviews=1),
        alice_b1: review_figures(alice_b1, likes=1, comments=1),
        bob_b2: review_figures(bob_b2, likes=1, comments=0),
        alice_id: user_figures(alice_id, reviews=1, followers=1, following=2),
        bob_id: user_figures(bob_id, reviews=1, followers=1, following=1),
        carol_id: user_figures(carol_id, reviews=0, followers=0, following=1),
        author1: author_figures(author1, followers=1, books=2),
        author2: author_figures(author2, followers=1, books=1),
    }


async def ratings_script(
    client: GraphQLClient, catalog: Catalog, users: int = 3
) -> tuple[dict[str, Any], list[str]]:
    """`users` readers rate book1 (stars 1, 2, ...); the expected figures and their tokens."""
    book1 = catalog.book(0)
    tokens = []
    stars: dict[int, int] = {}
    for i in range(users):
        token, _ = await client.sign_up()
        tokens.append(token)
        await rate(client, token, book1, i % 5 + 1)
        stars[i % 5 + 1] = stars.get(i % 5 + 1, 0) + 1
    return {book1: book_figures(book1, stars, (0, 0, users), reviews=0)}, tokens


def entry_event(user: ObjectId | str, book: ObjectId | str, **fields: str) -> dict[str, str]:
    """Stream fields of a rating event, shaped as the API publishes them (overridable)."""
    event = Event(
        type=EventType.RATING_SET,
        user_id=str(user),
        book_id=str(book),
        change={"stars": 3, "previous": None},
    )
    return event.to_fields() | fields


# --- tests ------------------------------------------------------------------------------------


async def test_worker_process_maintains_every_aggregate(servers: Servers) -> None:
    """One API process and one worker process: GraphQL mutations lead to exact figures."""
    async with world(servers) as w:
        api = start_api(w.settings)
        worker = start_worker(w.settings, "solo")
        with running(api.child, worker):
            async with http_client(api.url) as client:
                expected = await every_aggregate_script(client, w.catalog)
                await until_exact(w, client, expected, worker, api.child)
            assert await w.pending() == 0
            assert await w.outbox() == 0
            assert worker.terminate() == 0


async def test_sigterm_acknowledges_exactly_what_was_applied(servers: Servers) -> None:
    """SIGTERM while events are streaming in: exit 0, nothing left pending for the worker, and
    every event delivered to it was applied (its counters say so); a successor drains the rest.
    """
    async with world(servers, worker_batch_size=5, trim_interval_seconds=600) as w:
        expected, _ = await ratings_script(w.client, w.catalog, users=4)
        users = await w.store.users.find({}, {"_id": 1}).to_list(None)
        await w.stream.ensure_group()
        worker = start_worker(w.settings, "leaving")
        with running(worker):
            await wait_consumer(w, "leaving", worker)
            await wait_blocked_reader(w, worker)
            async with w.redis.pipeline(transaction=False) as pipe:
                for i in range(150):  # duplicates of real changes: at-least-once delivery
                    user = users[i % len(users)]["_id"]
                    pipe.xadd(w.settings.stream_key, entry_event(user, w.catalog.books[0]))
                await pipe.execute()
            worker.signal(signal.SIGTERM)
            assert worker.process.wait(30) == 0, worker.output()[-3000:]

        assert await w.pending("leaving") == 0
        last_delivered = _text((await w.group())["last-delivered-id"])
        delivered = len(await w.redis.xrange(w.settings.stream_key, "-", last_delivered))
        assert delivered >= 1
        counters = status_of(worker_status(w.settings), "leaving")
        assert counters is not None
        assert counters["applied"] == delivered
        assert counters["dead_letters"] == 0

        successor = start_worker(w.settings, "successor")
        with running(successor):
            await until_exact(w, w.client, expected, successor)
            await eventually(lambda: lag_zero(w), "the successor to drain the stream", successor)
            assert successor.terminate() == 0
        assert await w.pending() == 0


async def test_entries_from_before_version_1_are_applied(servers: Servers) -> None:
    """A stream and an outbox written before the versioned envelope (flat ids, no change)
    still reach the figures: the worker reads both shapes, and re-publishes a legacy outbox
    entry as it was recorded."""
    async with world(
        servers, outbox_grace_seconds=0, sweep_interval_seconds=0.2, trim_interval_seconds=600
    ) as w:
        book = w.catalog.books[0]
        rated, reviewed = user_doc("rated", T0), user_doc("reviewed", T0)
        await w.store.users.insert_many([rated, reviewed])
        await w.store.reviews.insert_many(
            [
                review_doc(rated["_id"], book, T0, rating=4),
                review_doc(reviewed["_id"], book, T0, rating=2, text="Old times."),
            ]
        )
        in_stream = {
            "id": "0" * 32,
            "type": "rating.set",
            "at": T0.isoformat(),
            "user_id": str(rated["_id"]),
            "book_id": str(book),
        }
        in_outbox = in_stream | {"id": "1" * 32, "type": "review.written"}
        in_outbox["user_id"] = str(reviewed["_id"])
        await w.redis.xadd(w.settings.stream_key, in_stream)
        await w.store.outbox.insert_one(
            {"_id": in_outbox["id"], "event": in_outbox, "created_at": T0}
        )
        node = w.catalog.book(0)
        expected = {
            node: book_figures(node, {4: 1, 2: 1}, (0, 0, 2), reviews=1),
            to_global_id("User", reviewed["_id"]): user_figures(
                to_global_id("User", reviewed["_id"]), reviews=1, followers=0, following=0
            ),
        }
        worker = start_worker(w.settings, "upgraded")
        with running(worker):
            await until_exact(w, w.client, expected, worker)
            assert worker.terminate() == 0  # after acknowledging what it applied
        assert await lag_zero(w)
        assert await w.outbox() == 0
        assert await w.dead_letters() == []
        entries = await w.redis.xrange(w.settings.stream_key)
        assert [{_text(k): _text(v) for k, v in f.items()} for _, f in entries] == [
            in_stream,
            in_outbox,
        ]


async def lag_zero(w: World) -> bool:
    group = await w.group()
    return int(group["pending"]) == 0 and group.get("lag") == 0


async def test_stream_is_trimmed_but_never_loses_unacknowledged_events(servers: Servers) -> None:
    async with world(servers, trim_interval_seconds=0.2, worker_heartbeat_seconds=0.1) as w:
        user, book = ObjectId(), w.catalog.books[0]
        await w.stream.ensure_group()
        key = w.settings.stream_key

        # Applied events are trimmed away (the last delivered id stays as the group's mark).
        worker = start_worker(w.settings, "trimmer")
        with running(worker):
            for _ in range(6):
                await w.redis.xadd(key, entry_event(user, book))
            assert await w.redis.xlen(key) == 6

            async def trimmed() -> bool:
                return await w.pending() == 0 and await w.redis.xlen(key) <= 1

            await eventually(trimmed, "applied events to be trimmed", worker)
            assert worker.terminate() == 0

        # A consumer took three events and crashed: they stay pending, and in the stream.
        held = [await w.redis.xadd(key, entry_event(user, book)) for _ in range(3)]
        taken = await w.redis.xreadgroup(w.settings.consumer_group, "crashed", {key: ">"}, count=10)
        assert [_text(i) for i, _ in taken[0][1]] == [_text(i) for i in held]
        later = [_text(await w.redis.xadd(key, entry_event(user, book))) for _ in range(4)]

        worker = start_worker(w.settings, "trimmer")
        with running(worker):

            async def applied_later() -> bool:
                group = await w.group()
                return group.get("lag") == 0 and await w.pending() == 3

            await eventually(applied_later, "the later events to be applied", worker)
            # Trims keep running; watch several of them (the worker's heartbeat counts them).
            for _ in range(3):
                done = await _trims(w, "trimmer")
                await eventually(
                    lambda d=done: _trims_after(w, "trimmer", d), "another trim", worker
                )
                ids = await w.stream_ids()
                assert ids == [_text(i) for i in held] + later  # the older, acked one is gone
            assert await w.pending("crashed") == 3
            assert worker.terminate() == 0


async def _trims(w: World, name: str) -> int:
    raw = await w.redis.get(PipelineNames.of(w.settings).heartbeats + name)
    return int(json.loads(raw)["trims"]) if raw else 0


async def _trims_after(w: World, name: str, before: int) -> bool:
    return await _trims(w, name) > before


async def test_worker_status_command_reports_stream_and_workers(servers: Servers) -> None:
    async with world(
        servers, trim_interval_seconds=0.2, worker_batch_size=2, worker_heartbeat_seconds=0.2
    ) as w:
        expected, _ = await ratings_script(w.client, w.catalog, users=3)
        # One poison event lands in the dead letters.
        await w.stream.ensure_group()
        await w.redis.xadd(w.settings.stream_key, {"type": "no.such.type", "user_id": "x"})
        worker = start_worker(w.settings, "reporter")
        with running(worker):
            await until_exact(w, w.client, expected, worker)

            def settled(status: dict[str, Any]) -> bool:
                mine = status_of(status, "reporter")
                group = status["groups"][0] if status["groups"] else {}
                return bool(mine and mine["applied"] == 3 and group.get("pending") == 0)

            async def status_settled() -> dict[str, Any] | None:
                status = worker_status(w.settings)
                return status if settled(status) else None

            status = await eventually(status_settled, "status showing the work", worker)
            assert worker.terminate() == 0

        assert status["stream"] == w.settings.stream_key
        assert isinstance(status["length"], int)
        assert status["dead_letters"] == 1
        assert status["outbox"] == 0
        (group,) = status["groups"]
        assert group["name"] == w.settings.consumer_group
        assert group["pending"] == 0
        assert group["lag"] == 0
        assert group["consumers"] == 1
        mine = status_of(status, "reporter")
        assert mine is not None
        assert mine["applied"] == 3
        assert mine["dead_letters"] == 1
        assert mine["batches"] == 2  # 4 events read 2 at a time; the poison one is not applied


async def test_workers_leave_the_status_when_they_stop_or_die(servers: Servers) -> None:
    """Heartbeats expire (as arq's health check does): a killed worker drops out after three
    silent intervals; a stopped one shows as stopped, then drops out the same way."""
    async with world(servers, worker_heartbeat_seconds=0.3) as w:
        stopped, killed = start_worker(w.settings, "stops"), start_worker(w.settings, "dies")
        with running(stopped, killed):

            def states() -> dict[str, str]:
                return {x["name"]: x["state"] for x in worker_status(w.settings)["workers"]}

            async def both_running() -> bool:
                return states() == {"stops": "running", "dies": "running"}

            await eventually(both_running, "both workers in the status", stopped, killed)
            assert stopped.terminate() == 0
            assert states()["stops"] == "stopped"
            killed.kill()
            key = PipelineNames.of(w.settings).heartbeats + "dies"
            assert 0 < await w.redis.ttl(key) <= 1  # round(0.3 * 3) s, at least 1

            async def gone() -> bool:
                return states() == {}

            await eventually(gone, "both workers to drop out")
