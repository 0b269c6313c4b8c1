"""The event pipeline's central property: once the stream is drained, every aggregate equals
the recomputation from the source documents, whatever happened on the way.

Hypothesis generates random sequences of rate, re-rate, clear, shelve, unshelve, review,
delete, like, unlike, comment, follow and unfollow by five users over three books (and one or
two authors). Each example gets a database and a stream of its own and runs them through the
GraphQL API (in process) while two worker *processes* consume the stream, with:

- duplicated deliveries: events of the stream appended again (XRANGE, then XADD of the same
  fields), at points Hypothesis chooses;
- a crash: worker "A" is SIGKILLed in the middle, inside a batch it read itself and has not
  acknowledged (caught while writing its figures, stopped, found in the pending list, killed:
  see `crash`), and a replacement is started, either under A's name (it re-reads its own
  pending events) or under a new name (the idle events are claimed with XAUTOCLAIM after
  CLAIM_IDLE_MS);
- slow workers: a worker's figure write may stall (STALL_MS) after it read the sources, and
  "settle" steps let the workers catch up so that the next changes race each other's
  recomputations rather than queue behind them;
- batches of 1, 3 or 500 events.

When the group has nothing pending and nothing undelivered, `reconcile(fix=False)` must find
no drift, and the figures the API serves must equal those of a model of the operations kept
by the test (independently of the service's own recomputation code).

`make test` runs PIPELINE_EXAMPLES (12) scenarios of PIPELINE_OPERATIONS (10-40) operations;
`make test-soak` runs 200 of 20-60 (README, "Tests").
"""

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

import workers.aggregates
from devtools.embedded import Servers
from service.events import Event, EventType
from service.ids import parse_global_id, to_global_id
from service.mongo import Store, make_client
from service.settings import Settings
from tests.support.app import GraphQLClient, app_settings, running_app
from tests.support.pipeline import kill_inside_a_batch
from tests.support.processes import LOGS, Child, running, start_slow_worker
from workers.apply import apply_events
from workers.reconcile import reconcile

USERS = 5
BOOKS = 3
SHELVES = ("WANT_TO_READ", "CURRENTLY_READING", "READ")
EXAMPLES = int(os.environ.get("PIPELINE_EXAMPLES", "12"))
DRAIN_TIMEOUT = 90.0
OPERATIONS = tuple(int(n) for n in os.environ.get("PIPELINE_OPERATIONS", "10-40").split("-"))
# Workers stall this long, at a chance each scenario sets per worker, between reading an
# aggregate's sources and writing its figures: a slow worker (GC pause, slow disk, lost CPU),
# whose recomputation then overlaps the other worker's and the API's writes.
STALL_MS = int(os.environ.get("PIPELINE_STALL_MS", "250"))
CLAIM_IDLE_MS = 1000  # above two stalls: a stalled worker's events are not claimed from it

# --- operations --------------------------------------------------------------------------

users = st.integers(0, USERS - 1)
books = st.integers(0, BOOKS - 1)
stars = st.integers(1, 5)
operation = st.one_of(
    st.tuples(st.just("rate"), users, books, stars),  # a second rate of an entry is a re-rate
    st.tuples(st.just("clear"), users, books),
    st.tuples(st.just("shelve"), users, books, st.sampled_from(SHELVES)),
    st.tuples(st.just("unshelve"), users, books),
    st.tuples(st.just("review"), users, books, st.none() | stars),
    st.tuples(st.just("delete"), users, books),
    st.tuples(st.just("like"), users, users, books),  # liker, the entry's owner, its book
    st.tuples(st.just("unlike"), users, users, books),
    st.tuples(st.just("comment"), users, users, books),
    st.tuples(st.just("follow_user"), users, users),
    st.tuples(st.just("unfollow_user"), users, users),
    st.tuples(st.just("follow_author"), users, st.integers(0, 1)),
    st.tuples(st.just("unfollow_author"), users, st.integers(0, 1)),
    st.tuples(st.just("duplicate"), st.integers(0, 2**16)),  # re-append some stream events
    # Wait for the workers to catch up: the next changes then race each other, not a backlog.
    st.tuples(st.just("settle")),
)


@dataclass(frozen=True)
class Scenario:
    operations: list[tuple[Any, ...]]
    crash_at: int  # index of the operation before which worker A dies (in the middle third)
    restart_as_same_name: bool
    batch_size: int
    stalls: tuple[float, float]  # chance that a write stalls: worker A (and its replacement), B
    authors: int
    book_authors: list[list[int]]  # per book, indexes of its authors


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    operations = draw(st.lists(operation, min_size=OPERATIONS[0], max_size=OPERATIONS[1]))
    authors = draw(st.integers(1, 2))
    return Scenario(
        operations=operations,
        crash_at=draw(st.integers(len(operations) // 3, 2 * len(operations) // 3)),
        restart_as_same_name=draw(st.booleans()),
        batch_size=draw(st.sampled_from([1, 3, 500])),
        stalls=draw(st.sampled_from([(0.15, 0.15), (1.0, 0.0), (0.0, 0.0)])),
        authors=authors,
        book_authors=[
            draw(st.lists(st.integers(0, authors - 1), min_size=1, max_size=2, unique=True))
            for _ in range(BOOKS)
        ],
    )


# Two changes of one aggregate in quick succession after the workers caught up, while worker A
# stalls every write and B never does: whenever A takes the first event, B stores the second's
# figures first and A's older ones arrive after them. (Without the fence in workers.aggregates
# this example failed in 4 of 6 runs: the aggregates of each pair race independently.)
RACING_WRITES = Scenario(
    operations=[
        ("settle",),
        ("review", 0, 0, 1),
        ("review", 1, 0, 5),
        ("settle",),  # A dies here, holding copies of the events so far (see `crash`)
        ("review", 2, 1, 2),
        ("review", 3, 1, 4),
        ("settle",),
        ("review", 4, 2, 3),
        ("review", 0, 2, 5),
        ("settle",),
        ("follow_user", 0, 3),
        ("follow_user", 2, 3),
        ("settle",),
        ("follow_user", 1, 4),
        ("follow_user", 2, 4),
    ],
    crash_at=3,
    restart_as_same_name=False,
    batch_size=1,
    stalls=(1.0, 0.0),
    authors=1,
    book_authors=[[0], [0], [0]],
)


# --- the model: what the figures must be, derived from the operations alone ---------------


@dataclass
class EntryModel:
    review_id: str
    shelf: str | None = "READ"
    rating: int | None = None
    has_text: bool = False

    def empty(self) -> bool:
        return self.shelf is None and self.rating is None and not self.has_text


@dataclass
class Model:
    entries: dict[tuple[int, int], EntryModel] = field(default_factory=dict)
    deleted: dict[tuple[int, int], str] = field(default_factory=dict)  # last id of a gone entry
    likes: set[tuple[int, str]] = field(default_factory=set)  # (user, review id)
    comments: Counter[str] = field(default_factory=Counter)  # review id -> comments
    follows: set[tuple[int, str, int]] = field(default_factory=set)  # (follower, kind, target)

    def drop(self, key: tuple[int, int]) -> None:
        entry = self.entries.pop(key)
        self.deleted[key] = entry.review_id
        self.likes = {like for like in self.likes if like[1] != entry.review_id}
        self.comments.pop(entry.review_id, None)

    def book(self, book: int) -> dict[str, Any]:
        entries = [e for (_, b), e in self.entries.items() if b == book]
        ratings = [e.rating for e in entries if e.rating is not None]
        return {
            "ratingStats": {
                "count": len(ratings),
                "histogram": [{"stars": s, "count": ratings.count(s)} for s in (5, 4, 3, 2, 1)],
            },
            "shelfCounts": {
                "wantToRead": sum(e.shelf == "WANT_TO_READ" for e in entries),
                "currentlyReading": sum(e.shelf == "CURRENTLY_READING" for e in entries),
                "read": sum(e.shelf == "READ" for e in entries),
            },
            "reviewsCount": sum(e.has_text for e in entries),
        }

    def user(self, user: int) -> dict[str, int]:
        return {
            "reviewsCount": sum(e.has_text for (u, _), e in self.entries.items() if u == user),
            "followersCount": sum(1 for f in self.follows if f[1:] == ("user", user)),
            "followingCount": sum(1 for f in self.follows if f[0] == user),
        }

    def author(self, author: int, book_authors: list[list[int]]) -> dict[str, int]:
        return {
            "followersCount": sum(1 for f in self.follows if f[1:] == ("author", author)),
            "booksCount": sum(author in ids for ids in book_authors),
        }

    def review(self, review_id: str) -> dict[str, int]:
        return {
            "likesCount": sum(1 for like in self.likes if like[1] == review_id),
            "commentsCount": self.comments[review_id],
        }


# --- the world of one example --------------------------------------------------------------


@dataclass
class World:
    settings: Settings
    client: GraphQLClient
    store: Store
    redis: Redis
    tokens: list[str]
    user_ids: list[str]  # global ids
    book_ids: list[str]
    author_ids: list[str]
    model: Model = field(default_factory=Model)


Q_RATE = "mutation($b: ID!, $s: Int!) { rateBook(bookId: $b, stars: $s) { id rating } }"
Q_CLEAR = "mutation($b: ID!) { clearRating(bookId: $b) { id rating } }"
Q_SHELF = "mutation($b: ID!, $s: Shelf) { setShelf(bookId: $b, shelf: $s) { id shelf } }"
Q_REVIEW = "mutation($i: WriteReviewInput!) { writeReview(input: $i) { id rating } }"
Q_DELETE = "mutation($id: ID!) { deleteReview(id: $id) }"
Q_LIKE = "mutation($r: ID!) { likeReview(reviewId: $r) { id } }"
Q_UNLIKE = "mutation($r: ID!) { unlikeReview(reviewId: $r) { id } }"
Q_COMMENT = "mutation($r: ID!, $t: String!) { addComment(reviewId: $r, text: $t) { id } }"
Q_FOLLOW_USER = "mutation($u: ID!) { followUser(userId: $u) { id } }"
Q_UNFOLLOW_USER = "mutation($u: ID!) { unfollowUser(userId: $u) { id } }"
Q_FOLLOW_AUTHOR = "mutation($a: ID!) { followAuthor(authorId: $a) { id } }"
Q_UNFOLLOW_AUTHOR = "mutation($a: ID!) { unfollowAuthor(authorId: $a) { id } }"


async def entry_upsert(
    world: World, key: tuple[int, int], query: str, variables: dict[str, Any]
) -> EntryModel:
    """Run a mutation that creates or updates the (user, book) entry; the model follows."""
    data = await world.client.data(query, variables, world.tokens[key[0]])
    review_id = next(iter(data.values()))["id"]
    entry = world.model.entries.get(key)
    if entry is None:
        entry = world.model.entries[key] = EntryModel(review_id)
    assert entry.review_id == review_id, "an entry keeps its id while it exists"
    return entry


async def entry_unset(
    world: World, key: tuple[int, int], query: str, variables: dict[str, Any], attr: str
) -> None:
    """clearRating / setShelf(null): unset one part; an entry left empty is deleted."""
    data = await world.client.data(query, variables, world.tokens[key[0]])
    result = next(iter(data.values()))
    entry = world.model.entries.get(key)
    if entry is not None:
        setattr(entry, attr, None)
        if entry.empty():
            world.model.drop(key)
            entry = None
    assert (result and result["id"]) == (entry and entry.review_id), (result, entry)


async def on_review(world: World, owner: int, book: int) -> str | None:
    """The id to like or comment on: the live entry's, else a deleted one's (NOT_FOUND)."""
    entry = world.model.entries.get((owner, book))
    if entry is not None:
        return entry.review_id
    return world.model.deleted.get((owner, book))


async def perform(world: World, op: tuple[Any, ...]) -> None:
    model, client, name = world.model, world.client, op[0]
    if name == "rate":
        _, user, book, stars = op
        entry = await entry_upsert(
            world, (user, book), Q_RATE, {"b": world.book_ids[book], "s": stars}
        )
        entry.rating = stars
    elif name == "clear":
        _, user, book = op
        await entry_unset(world, (user, book), Q_CLEAR, {"b": world.book_ids[book]}, "rating")
    elif name == "shelve":
        _, user, book, shelf = op
        entry = await entry_upsert(
            world, (user, book), Q_SHELF, {"b": world.book_ids[book], "s": shelf}
        )
        entry.shelf = shelf
    elif name == "unshelve":
        _, user, book = op
        await entry_unset(
            world, (user, book), Q_SHELF, {"b": world.book_ids[book], "s": None}, "shelf"
        )
    elif name == "review":
        _, user, book, stars = op
        review_input: dict[str, Any] = {
            "bookId": world.book_ids[book],
            "text": f"review {user}/{book}",
        }
        if stars is not None:
            review_input["rating"] = stars
        entry = await entry_upsert(world, (user, book), Q_REVIEW, {"i": review_input})
        entry.has_text = True
        if stars is not None:
            entry.rating = stars
    elif name == "delete":
        _, user, book = op
        review_id = await on_review(world, user, book)
        if review_id is None:
            return
        if (user, book) in model.entries:
            assert await client.data(Q_DELETE, {"id": review_id}, world.tokens[user]) == {
                "deleteReview": True
            }
            model.drop((user, book))
        else:
            error = await client.error(Q_DELETE, {"id": review_id}, world.tokens[user])
            assert error.code == "NOT_FOUND"
    elif name in ("like", "unlike", "comment"):
        _, user, owner, book = op
        review_id = await on_review(world, owner, book)
        if review_id is None:
            return
        query = {"like": Q_LIKE, "unlike": Q_UNLIKE, "comment": Q_COMMENT}[name]
        variables: dict[str, Any] = {"r": review_id}
        if name == "comment":
            variables["t"] = f"comment by {user}"
        if (owner, book) not in model.entries:
            error = await client.error(query, variables, world.tokens[user])
            assert error.code == "NOT_FOUND"
            return
        await client.data(query, variables, world.tokens[user])
        if name == "like":
            model.likes.add((user, review_id))
        elif name == "unlike":
            model.likes.discard((user, review_id))
        else:
            model.comments[review_id] += 1
    elif name in ("follow_user", "unfollow_user"):
        _, user, target = op
        query = Q_FOLLOW_USER if name == "follow_user" else Q_UNFOLLOW_USER
        variables = {"u": world.user_ids[target]}
        if user == target and name == "follow_user":
            error = await client.error(query, variables, world.tokens[user])
            assert error.code == "BAD_USER_INPUT"
            return
        await client.data(query, variables, world.tokens[user])
        if name == "follow_user":
            model.follows.add((user, "user", target))
        else:
            model.follows.discard((user, "user", target))
    elif name in ("follow_author", "unfollow_author"):
        _, user, author = op
        author %= len(world.author_ids)
        query = Q_FOLLOW_AUTHOR if name == "follow_author" else Q_UNFOLLOW_AUTHOR
        await client.data(query, {"a": world.author_ids[author]}, world.tokens[user])
        if name == "follow_author":
            model.follows.add((user, "author", author))
        else:
            model.follows.discard((user, "author", author))
    elif name == "duplicate":
        await duplicate(world, random.Random(op[1]))
    elif name == "settle":
        await settled(world)
    else:  # pragma: no cover
        raise AssertionError(op)


# --- workers and stream faults ---------------------------------------------------------------


def start_worker(settings: Settings, name: str, stall_chance: float, *, dies: bool) -> Child:
    """`books worker run --name NAME` as a child process whose writes stall at times; one that
    `dies` (A) holds its batch while the example's hold file exists (see `crash`)."""
    hold = hold_file(settings) if dies else None
    return start_slow_worker(
        settings, name, stall_ms=STALL_MS, stall_chance=stall_chance, hold_file=hold
    )


def hold_file(settings: Settings) -> Path:
    return LOGS / f"hold-{settings.mongodb_db}"


async def stream_events(world: World) -> list[dict[str, str]]:
    raw = await world.redis.xrange(world.settings.stream_key)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in raw]


async def duplicate(world: World, rng: random.Random) -> int:
    """Deliver some events again: append copies of a random subset of the stream."""
    events = await stream_events(world)
    chosen = [e for e in events if rng.random() < 0.4][:12]
    async with world.redis.pipeline(transaction=False) as pipe:
        for fields in chosen:
            pipe.xadd(world.settings.stream_key, fields)  # type: ignore[arg-type]
        await pipe.execute()
    return len(chosen)


async def crash(world: World, worker: Child, consumer: str, rng: random.Random) -> int:
    """SIGKILL `worker` inside a batch it read itself and holds unacknowledged.

    With the hold file present its next figure write waits; to give it a batch, one to five
    copies of random events of the stream are appended at a time (at-least-once delivery
    allows them; a harmless rating event when the stream is empty) until it holds one. It is then
    stopped, its pending entries checked, and killed. Returns how many entries it held.
    """
    key = world.settings.stream_key
    user, book = parse_global_id(world.user_ids[0])[1], parse_global_id(world.book_ids[0])[1]
    harmless = Event(type=EventType.RATING_SET, user_id=str(user), book_id=str(book))

    async def feed() -> None:
        events = await stream_events(world) or [harmless.to_fields()]
        # In one MULTI: the reader blocked first is served all of them, as one batch.
        async with world.redis.pipeline(transaction=True) as pipe:
            for fields in rng.choices(events, k=rng.randint(1, 5)):
                pipe.xadd(key, fields)  # type: ignore[arg-type]
            await pipe.execute()

    return await kill_inside_a_batch(
        world.redis, world.settings, worker, consumer, hold_file(world.settings), feed
    )


async def wait_until_consuming(world: World, *names: str) -> None:
    """Until each named worker has joined the group (its first XREADGROUP)."""
    key, group = world.settings.stream_key, world.settings.consumer_group
    async with asyncio.timeout(60):
        while True:
            try:
                consumers = {
                    c["name"].decode() for c in await world.redis.xinfo_consumers(key, group)
                }
            except Exception:  # no stream or group yet
                consumers = set()
            if set(names) <= consumers:
                return
            await asyncio.sleep(0.05)


async def settled(world: World, timeout: float = 10.0) -> None:
    """Until the group has caught up (nothing undelivered or pending), or `timeout`."""
    key, group = world.settings.stream_key, world.settings.consumer_group
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = (await world.redis.xinfo_stream(key))["last-generated-id"]
        [info] = [g for g in await world.redis.xinfo_groups(key) if g["name"].decode() == group]
        if info["pending"] == 0 and info["last-delivered-id"] == last:
            return
        await asyncio.sleep(0.02)


async def drained(world: World, workers: list[Child]) -> dict[str, Any]:
    """Wait until every event is published, delivered and acknowledged; the group's state."""
    key, group = world.settings.stream_key, world.settings.consumer_group
    async with asyncio.timeout(DRAIN_TIMEOUT):
        while True:
            for worker in workers:
                assert worker.process.poll() is None, (
                    f"{worker.name} exited:\n{worker.output()[-4000:]}"
                )
            outbox = await world.store.outbox.count_documents({})
            last = (await world.redis.xinfo_stream(key))["last-generated-id"]
            [info] = [g for g in await world.redis.xinfo_groups(key) if g["name"].decode() == group]
            if outbox == 0 and info["pending"] == 0 and info["last-delivered-id"] == last:
                return info  # type: ignore[no-any-return]
            await asyncio.sleep(0.05)


# --- checks ------------------------------------------------------------------------------


MAX_ALIASES = 10  # per query: the API limits aliases (MAX_ALIASES, 15 by default)


async def served_figures(world: World, review_ids: list[str]) -> dict[str, Any]:
    """Every figure of the example's books, users, authors and reviews, as the API serves them."""
    parts = []
    for i, book in enumerate(world.book_ids):
        parts.append(
            f'b{i}: book(id: "{book}") {{ ratingStats {{ count histogram {{ stars count }} }}'
            " shelfCounts { wantToRead currentlyReading read } reviewsCount }"
        )
    for i, user in enumerate(world.user_ids):
        parts.append(
            f'u{i}: node(id: "{user}")'
            " { ... on User { reviewsCount followersCount followingCount } }"
        )
    for i, author in enumerate(world.author_ids):
        parts.append(f'a{i}: author(id: "{author}") {{ followersCount booksCount }}')
    for i, review in enumerate(review_ids):
        parts.append(f'r{i}: review(id: "{review}") {{ likesCount commentsCount }}')
    served: dict[str, Any] = {}
    for start in range(0, len(parts), MAX_ALIASES):
        served.update(
            await world.client.data("{ " + "\n".join(parts[start : start + MAX_ALIASES]) + " }")
        )
    return served


async def check_figures(world: World, book_authors: list[list[int]]) -> None:
    model = world.model
    review_ids = [e.review_id for e in model.entries.values()]
    served = await served_figures(world, review_ids)
    expected: dict[str, Any] = {}
    for i in range(len(world.book_ids)):
        expected[f"b{i}"] = model.book(i)
    for i in range(len(world.user_ids)):
        expected[f"u{i}"] = model.user(i)
    for i in range(len(world.author_ids)):
        expected[f"a{i}"] = model.author(i, book_authors)
    for i, review in enumerate(review_ids):
        expected[f"r{i}"] = model.review(review)
    assert served == expected
    # The sources themselves agree with the model (the model is what the API was asked to do).
    assert await world.store.likes.count_documents({}) == len(model.likes)
    assert await world.store.comments.count_documents({}) == sum(model.comments.values())
    assert await world.store.follows.count_documents({}) == len(model.follows)
    assert await world.store.reviews.count_documents({}) == len(model.entries)


# --- the property --------------------------------------------------------------------------


async def make_world(
    settings: Settings, client: GraphQLClient, store: Store, redis: Redis, scenario: Scenario
) -> World:
    author_oids = [ObjectId() for _ in range(scenario.authors)]
    book_oids = [ObjectId() for _ in range(BOOKS)]
    await store.authors.insert_many(
        [{"_id": a, "name": f"Author {i}"} for i, a in enumerate(author_oids)]
    )
    await store.books.insert_many(
        [
            {
                "_id": b,
                "title": f"Book {i}",
                "genres": [],
                "author_ids": [author_oids[a] for a in scenario.book_authors[i]],
            }
            for i, b in enumerate(book_oids)
        ]
    )
    await reconcile(
        store, fix=True
    )  # books_count: loaded data starts reconciled, as `books seed` does
    signed_up = [await client.sign_up(f"user{i}_{ObjectId()}"[:24]) for i in range(USERS)]
    return World(
        settings=settings,
        client=client,
        store=store,
        redis=redis,
        tokens=[token for token, _ in signed_up],
        user_ids=[user_id for _, user_id in signed_up],
        book_ids=[to_global_id("Book", b) for b in book_oids],
        author_ids=[to_global_id("Author", a) for a in author_oids],
    )


async def run_scenario(
    servers: Servers,
    scenario: Scenario,
    report: Callable[[str], None] = print,
    tally: Callable[[str], None] = lambda _: None,
) -> None:
    """Run one scenario end to end and check the figures (`report` notes, `tally` counts)."""
    settings_ = app_settings(
        servers.mongodb_url,
        servers.redis_url,
        worker_batch_size=scenario.batch_size,
        worker_block_ms=100,
        claim_idle_ms=CLAIM_IDLE_MS,
        trim_interval_seconds=1,
    )
    report(f"database {settings_.mongodb_db}")
    redis = Redis.from_url(servers.redis_url or "")
    stall_a, stall_b = scenario.stalls
    worker_a = start_worker(settings_, "A", stall_a, dies=True)
    workers = [worker_a, start_worker(settings_, "B", stall_b, dies=False)]
    try:
        async with running_app(settings_) as app:
            world = await make_world(settings_, app.client, app.services.store, redis, scenario)
            await wait_until_consuming(world, "A", "B")
            tally(f"operations: {len(scenario.operations) // 10 * 10}+")
            for index, op in enumerate(scenario.operations):
                if index == scenario.crash_at:
                    held = await crash(world, worker_a, "A", random.Random(index))
                    report(f"worker A killed before operation {index}, holding {held} events")
                    tally(f"the dead worker held {min(held, 5)}{'+' if held >= 5 else ''} events")
                    replacement = "A" if scenario.restart_as_same_name else "C"
                    workers.append(start_worker(settings_, replacement, stall_a, dies=False))
                await perform(world, op)

            started = time.monotonic()
            group = await drained(world, workers[1:])
            report(f"drained in {time.monotonic() - started:.1f} s: {group}")
            assert await redis.xlen(settings_.dead_letter_stream) == 0
            drifts = await reconcile(world.store, fix=False)
            assert drifts == [], "\n".join(map(str, drifts))
            await check_figures(world, scenario.book_authors)
    finally:
        with running(*workers):
            pass
        await redis.aclose()


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
@example(scenario=RACING_WRITES)
async def test_drained_aggregates_equal_the_recomputation(
    servers: Servers, scenario: Scenario
) -> None:
    await run_scenario(servers, scenario, note, event)


# --- the fence between concurrent workers (found by the property above) ----------------------


async def test_a_stale_recomputation_never_overwrites_a_fresher_one(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Worker 1 reads a book's sources, stalls; worker 2 reads newer sources and writes; worker 1
    then writes. Without the fence its stale figures would stay, their event acknowledged."""
    settings_ = app_settings(servers.mongodb_url, servers.redis_url)
    client = make_client(servers.mongodb_url, settings_)
    store = Store(client[settings_.mongodb_db])
    try:
        book, first, second = ObjectId(), ObjectId(), ObjectId()
        await store.books.insert_one({"_id": book, "title": "t", "genres": [], "author_ids": []})
        await store.reviews.insert_one(
            {"user_id": first, "book_id": book, "rating": 3, "shelf": "READ"}
        )

        stalled, resume = asyncio.Event(), asyncio.Event()
        store_figures = workers.aggregates.store_figures

        async def stalling_write(*args: Any, **kwargs: Any) -> None:
            if args[1] == "book" and not stalled.is_set():
                stalled.set()
                await resume.wait()
            await store_figures(*args, **kwargs)

        monkeypatch.setattr(workers.aggregates, "store_figures", stalling_write)
        slow = asyncio.create_task(
            apply_events(
                store, [Event(type=EventType.RATING_SET, user_id=str(first), book_id=str(book))]
            )
        )
        await asyncio.wait_for(stalled.wait(), 10)
        await store.reviews.insert_one(
            {"user_id": second, "book_id": book, "rating": 5, "shelf": "READ"}
        )
        await apply_events(
            store, [Event(type=EventType.RATING_SET, user_id=str(second), book_id=str(book))]
        )
        resume.set()
        await asyncio.wait_for(slow, 10)

        stored = await store.books.find_one({"_id": book})
        assert stored is not None
        assert stored["rating_stats"]["counts"] == [0, 0, 1, 0, 1]
        assert await reconcile(store, fix=False) == []
    finally:
        await client.drop_database(settings_.mongodb_db)
        await client.close()


async def test_reconcile_fixes_drift_without_undoing_the_fence(servers: Servers) -> None:
    """A reconcile fix is fenced too, and the worker's next write still goes through after it."""
    settings_ = app_settings(servers.mongodb_url, servers.redis_url)
    client = make_client(servers.mongodb_url, settings_)
    store = Store(client[settings_.mongodb_db])
    try:
        book, user = ObjectId(), ObjectId()
        await store.books.insert_one({"_id": book, "title": "t", "genres": [], "author_ids": []})
        await store.reviews.insert_one(
            {"user_id": user, "book_id": book, "rating": 4, "shelf": "READ"}
        )
        await reconcile(store, fix=True)  # the book's figures as loaded data has them
        await store.books.update_one({"_id": book}, {"$set": {"rating_stats.count": 99}})
        drifts = await reconcile(store, fix=True)
        assert [(d.kind.value, d.id, d.field, d.stored, d.recomputed) for d in drifts] == [
            ("book", book, "rating_stats.count", 99, 1)
        ]
        assert await reconcile(store, fix=False) == []
        await store.reviews.update_one({"user_id": user}, {"$set": {"rating": 1}})
        await apply_events(
            store, [Event(type=EventType.RATING_SET, user_id=str(user), book_id=str(book))]
        )
        stored = await store.books.find_one({"_id": book})
        assert stored is not None and stored["rating_stats"]["counts"] == [1, 0, 0, 0, 0]
    finally:
        await client.drop_database(settings_.mongodb_db)
        await client.close()
