"""The world of a pipeline test (a database and a stream of its own, an in-process API on
them, a seeded catalog), raw reads of the stream and the group, waiting for conditions, and
mutation scripts with the figures they must lead to."""

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bson import ObjectId

from devtools.embedded import Servers
from service.events import Event, EventType
from service.pipeline import PipelineNames
from service.settings import Settings
from tests.support.app import AppUnderTest, GraphQLClient, app_settings, running_app
from tests.support.documents import Catalog, seed_catalog
from tests.support.figures import (
    author_figures,
    book_figures,
    figures,
    review_figures,
    user_figures,
)
from tests.support.operations import (
    COMMENT,
    DELETE_COMMENT,
    DELETE_REVIEW,
    FOLLOW_AUTHOR,
    FOLLOW_USER,
    LIKE,
    SHELF,
    UNFOLLOW_AUTHOR,
    UNFOLLOW_USER,
    UNLIKE,
    WRITE,
    rate,
)
from tests.support.processes import Child
from workers.reconcile import reconcile
from workers.stream import EventStream

DEADLINE = 20.0  # seconds a figure may take to become exact before a test gives up


def text_of(value: Any) -> str:
    """A Redis reply (bytes or str) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


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
            if text_of(group["name"]) == self.settings.consumer_group:
                return dict(group)
        raise AssertionError("no consumer group")

    async def stream_ids(self) -> list[str]:
        return [text_of(i) for i, _ in await self.redis.xrange(self.settings.stream_key)]

    async def dead_letters(self) -> list[dict[str, str]]:
        raw = await self.redis.xrange(self.settings.dead_letter_stream)
        return [{text_of(k): text_of(v) for k, v in fields.items()} for _, fields in raw]

    async def outbox(self) -> int:
        return int(await self.store.outbox.count_documents({}))

    async def drift(self) -> list[str]:
        return [str(d) for d in await reconcile(self.store, fix=False)]


@asynccontextmanager
async def world(
    servers: Servers,
    redis_url: str | None = None,
    mongodb_url: str | None = None,
    **overrides: Any,
) -> AsyncIterator[World]:
    """Settings of a database and stream of the test's own (MongoDB and Redis: the session's
    unless given), with workers waiting at most 0.2 s for events so housekeeping runs often."""
    overrides.setdefault("worker_block_ms", 200)
    settings = app_settings(
        mongodb_url or servers.mongodb_url, redis_url or servers.redis_url, **overrides
    )
    async with running_app(settings) as app:
        yield World(settings, app, await seed_catalog(app))


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
        return any(text_of(c["name"]) == name for c in consumers)

    await eventually(present, f"consumer {name}", child)


async def wait_blocked_reader(w: World, child: Child) -> None:
    """Until some client is blocked in XREADGROUP: the worker waits for new events, so the
    next XADD is delivered to it at once. (Tests run one at a time; ours is the only worker.)"""

    async def blocked() -> bool:
        clients = await w.redis.client_list()
        return any(c.get("cmd") == "xreadgroup" and "b" in c.get("flags", "") for c in clients)

    await eventually(blocked, "a worker blocked in XREADGROUP", child)


async def kill_inside_a_batch(
    redis: Any,
    settings: Settings,
    worker: Child,
    consumer: str,
    hold_file: Path,
    feed: Callable[[], Awaitable[object]],
) -> int:
    """Crash `worker` (a slow worker started with `hold_file`) inside a batch it read itself:
    with the file present its next figure write holds (it prints HOLDING); `feed()` is called
    until then (to give it events). It is stopped there (SIGSTOP), the stream's pending list
    must show entries for `consumer`, and it is SIGKILLed. Returns how many entries it held.
    """
    hold_file.touch()
    try:

        async def holding() -> bool:
            if "HOLDING" in worker.output():
                return True
            await feed()
            return False

        await eventually(holding, f"{worker.name} to hold a batch it read", worker)
        worker.signal(signal.SIGSTOP)
        key, group = settings.stream_key, settings.consumer_group
        held = await redis.xpending_range(key, group, "-", "+", 10_000, consumername=consumer)
        assert held, f"{worker.name} holds a batch, yet nothing is pending under {consumer}"
        worker.kill()
        return len(held)
    finally:
        hold_file.unlink(missing_ok=True)  # a successor under the same name must not hold


async def trims(w: World, worker: str) -> int:
    """How many times `worker` has trimmed the stream (its heartbeat counts them)."""
    raw = await w.redis.get(PipelineNames.of(w.settings).heartbeats + worker)
    return int(json.loads(raw)["trims"]) if raw else 0


async def another_trim(w: World, worker: Child, name: str) -> None:
    """Until the worker has trimmed the stream once more."""
    before = await trims(w, name)

    async def trimmed() -> bool:
        return await trims(w, name) > before

    await eventually(trimmed, f"another trim by {name}", worker)


async def lag_zero(w: World) -> bool:
    """The group has delivered every entry and nothing is pending."""
    group = await w.group()
    return int(group["pending"]) == 0 and group.get("lag") == 0


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


# --- mutation scripts -------------------------------------------------------------------------


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
    await client.data(SHELF, {"b": book1, "s": "CURRENTLY_READING"}, bob)
    await client.data(SHELF, {"b": book2, "s": "WANT_TO_READ"}, alice)
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
