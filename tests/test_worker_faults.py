"""Faults the event pipeline must survive, with real processes and real Redis servers:
crashed consumers (a worker killed inside its batch), events that keep failing, an API dying
between its write and its event, Redis going away during mutations, and MongoDB and Redis
crashing (SIGKILL) mid-run and restarting from their files."""

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId

from devtools.embedded import Servers
from tests.support.app import GraphQLClient, http_client
from tests.support.documents import quick_user
from tests.support.figures import book_figures, review_figures, user_figures
from tests.support.operations import COMMENT, FOLLOW_USER, RATE, WRITE, rate
from tests.support.pipeline import (
    World,
    entry_event,
    eventually,
    kill_inside_a_batch,
    ratings_script,
    text_of,
    until_exact,
    world,
)
from tests.support.processes import (
    running,
    start_api,
    start_slow_worker,
    start_worker,
    status_of,
    worker_status,
)
from tests.support.servers import own_mongo, own_redis

pytestmark = pytest.mark.slow  # real API and worker processes

# --- crashed consumers ------------------------------------------------------------------------


async def test_events_held_by_a_crashed_consumer_are_claimed(servers: Servers) -> None:
    """A consumer read a batch and died: after CLAIM_IDLE_MS another worker takes it over."""
    async with world(servers, claim_idle_ms=1000, trim_interval_seconds=0.2) as w:
        await w.stream.ensure_group()
        expected, _ = await ratings_script(w.client, w.catalog, users=3)
        key = w.settings.stream_key
        taken = await w.redis.xreadgroup(w.settings.consumer_group, "crashed", {key: ">"})
        assert len(taken[0][1]) == 3
        assert await w.pending("crashed") == 3

        worker = start_worker(w.settings, "rescuer")
        with running(worker):
            await until_exact(w, w.client, expected, worker)

            async def drained() -> dict[str, Any] | None:
                if await w.pending() != 0:
                    return None
                status = worker_status(w.settings)
                mine = status_of(status, "rescuer")
                return status if mine and mine["claimed"] == 3 else None

            status = await eventually(drained, "the claimed events in `worker status`", worker)
            assert worker.terminate() == 0
        mine = status_of(status, "rescuer")
        assert mine is not None
        assert mine["applied"] == 3
        assert mine["dead_letters"] == 0
        assert status["groups"][0]["pending"] == 0
        assert status["groups"][0]["lag"] == 0


async def test_events_of_a_worker_killed_inside_its_batch_are_claimed_by_another(
    servers: Servers, tmp_path: Path
) -> None:
    """A real worker reads a batch and, while writing its figures, is stopped (SIGSTOP), found
    holding the batch in the pending list, and SIGKILLed: after CLAIM_IDLE_MS a second worker
    claims the batch and applies it with the rest of the stream."""
    async with world(servers, claim_idle_ms=1000, trim_interval_seconds=0.2) as w:
        book1, book2 = w.catalog.book(0), w.catalog.book(1)
        await w.stream.ensure_group()
        alice, _ = await w.client.sign_up()
        bob, _ = await w.client.sign_up()
        await rate(w.client, alice, book2, 2)
        await rate(w.client, bob, book2, 4)  # two events waiting: the victim's first batch

        hold = tmp_path / "hold"
        victim = start_slow_worker(w.settings, "victim", hold_file=hold)
        with running(victim):
            held = await kill_inside_a_batch(
                w.redis, w.settings, victim, "victim", hold, lambda: asyncio.sleep(0)
            )
        assert held == 2
        assert await w.pending("victim") == 2
        stored = await w.store.books.find_one({"_id": w.catalog.books[1]})
        assert stored["rating_stats"]["count"] == 0  # killed before its figures were written
        await rate(w.client, alice, book1, 5)

        rescuer = start_worker(w.settings, "rescuer")
        with running(rescuer):
            expected = {
                book1: book_figures(book1, {5: 1}, (0, 0, 1), reviews=0),
                book2: book_figures(book2, {2: 1, 4: 1}, (0, 0, 2), reviews=0),
            }
            await until_exact(w, w.client, expected, rescuer)
            await eventually(lambda: _nothing_pending(w), "the pending list to drain", rescuer)

            async def claimed() -> dict[str, Any] | None:
                # Counters come with heartbeats: wait for one that has all of them.
                mine = status_of(worker_status(w.settings), "rescuer")
                return mine if mine and (mine["claimed"], mine["applied"]) == (2, 3) else None

            mine = await eventually(claimed, "`worker status` to show the claim", rescuer)
            assert mine["dead_letters"] == 0
            assert rescuer.terminate() == 0


async def _nothing_pending(w: World) -> bool:
    return await w.pending() == 0


# --- trimming while other groups work ---------------------------------------------------------


async def test_a_trim_survives_another_group_acknowledging_meanwhile(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """XINFO GROUPS says a group has pending events; by the time the trim asks for the oldest
    of them (XPENDING), that group's consumer has acknowledged them all. The trim goes on with
    the group's position (it crashed the worker before)."""
    async with world(servers) as w:
        key, ours, theirs = w.settings.stream_key, w.settings.consumer_group, "other-team"
        await w.stream.ensure_group()
        await w.redis.xgroup_create(key, theirs, id="0")
        ids = [text_of(await w.redis.xadd(key, entry_event(ObjectId(), ObjectId()))) for _ in "abc"]
        for group in (ours, theirs):
            await w.redis.xreadgroup(group, "reader", {key: ">"})
        await w.redis.xack(key, ours, *ids)
        xpending = w.redis.xpending

        async def acknowledged_meanwhile(name: str, groupname: str) -> Any:
            if text_of(groupname) == theirs:
                await w.redis.xack(key, theirs, *ids)
            return await xpending(name, groupname)

        monkeypatch.setattr(w.redis, "xpending", acknowledged_meanwhile)
        assert await w.stream.trim() == 2  # both groups have read up to the third
        assert await w.stream_ids() == ids[2:]


# --- dead letters -----------------------------------------------------------------------------


async def test_failing_events_go_to_dead_letters_without_blocking_the_rest(
    servers: Servers,
) -> None:
    async with world(servers, claim_idle_ms=300, max_attempts=3, trim_interval_seconds=0.2) as w:
        key = w.settings.stream_key
        book1 = w.catalog.book(0)
        await w.stream.ensure_group()
        # A book whose aggregate cannot be written (corrupt document): its event fails on
        # every attempt, with a database error rather than a bad id.
        corrupt = await w.store.books.insert_one(
            {"title": "Corrupt", "genres": [], "author_ids": [], "rating_stats": "corrupt"}
        )
        tokens = [(await w.client.sign_up())[0] for _ in range(4)]
        some_user = (await w.store.users.find_one({}))["_id"]

        await rate(w.client, tokens[0], book1, 5)
        poison = entry_event(some_user, "zzzz")
        await w.redis.xadd(key, poison)
        await rate(w.client, tokens[1], book1, 4)
        malformed = {"id": "malformed-1", "type": "rating.exploded", "book_id": "x"}
        await w.redis.xadd(key, malformed)
        await rate(w.client, tokens[2], book1, 4)
        failing = entry_event(some_user, corrupt.inserted_id)
        await w.redis.xadd(key, failing)

        worker = start_worker(w.settings, "careful")
        with running(worker):
            # An event published while the failing one is still being retried.
            await rate(w.client, tokens[3], book1, 1)
            expected = {book1: book_figures(book1, {5: 1, 4: 2, 1: 1}, (0, 0, 4), reviews=0)}
            await until_exact(w, w.client, expected, worker)

            async def all_dead() -> list[dict[str, str]] | None:
                dead = await w.dead_letters()
                return dead if len(dead) == 3 and await w.pending() == 0 else None

            dead = await eventually(all_dead, "three dead letters, nothing pending", worker)
            assert worker.terminate() == 0

        by_id = {d["id"]: d for d in dead}
        assert set(by_id) == {poison["id"], malformed["id"], failing["id"]}
        assert "PoisonEvent" in by_id[poison["id"]]["error"]
        assert json.loads(by_id[poison["id"]]["data"])["bookId"] == "zzzz"  # kept as it came
        assert "malformed event" in by_id[malformed["id"]]["error"]
        assert by_id[malformed["id"]]["type"] == "rating.exploded"
        assert "Cannot create field" in by_id[failing["id"]]["error"]
        assert all(d["stream_id"] for d in dead)
        # The failing event was tried MAX_ATTEMPTS times: two logged failures, then moved.
        log = worker.output()
        stream_id = by_id[failing["id"]]["stream_id"]
        assert f"event {stream_id} failed (attempt 1)" in log
        assert f"event {stream_id} failed (attempt 2)" in log
        assert f"event {stream_id} failed (attempt 3)" not in log
        assert f"event {stream_id} moved to {w.settings.dead_letter_stream}" in log
        assert await w.drift() == []


# --- the API dies between its write and its event ---------------------------------------------


async def test_change_survives_api_crash_between_write_and_event(servers: Servers) -> None:
    async with world(servers, outbox_grace_seconds=0.5, sweep_interval_seconds=0.5) as w:
        book1 = w.catalog.book(0)
        api = start_api(w.settings, FAULT_EXIT_BEFORE_PUBLISH="true")
        with running(api.child):
            async with http_client(api.url) as client:
                token, _ = await client.sign_up()  # no event: the fault hook is not reached
                with pytest.raises(httpx.TransportError):
                    await client.post(RATE, {"b": book1, "s": 4}, token)
            assert api.child.process.wait(30) == 70

        entry = await w.store.reviews.find_one({"book_id": w.catalog.books[0]})
        assert entry is not None and entry["rating"] == 4
        assert await w.redis.xlen(w.settings.stream_key) == 0
        assert await w.outbox() == 1

        worker = start_worker(w.settings, "sweeper")
        with running(worker):
            expected = {book1: book_figures(book1, {4: 1}, (0, 0, 1), reviews=0)}
            await until_exact(w, w.client, expected, worker)
            await eventually(lambda: _outbox_empty(w), "the outbox to empty", worker)
            assert worker.terminate() == 0
        assert await w.pending() == 0


async def _outbox_empty(w: World) -> bool:
    return await w.outbox() == 0


# --- Redis goes away --------------------------------------------------------------------------


@pytest.mark.parametrize("redis_keeps_data", [True, False], ids=["aof", "data-lost"])
async def test_mutations_during_redis_outage_reach_the_aggregates(
    servers: Servers, tmp_path: Path, redis_keeps_data: bool
) -> None:
    """Redis stops while users act: the mutations succeed (the outbox keeps their events);
    Redis comes back on the same port (with its data, or empty) and the worker, which was
    never restarted, makes the figures exact. Stopped during a second outage, it exits 0."""
    with own_redis(tmp_path / "redis", persistent=redis_keeps_data) as own:
        overrides = {"outbox_grace_seconds": 0.5, "sweep_interval_seconds": 0.5}
        async with world(servers, redis_url=own.url, **overrides) as w:
            book1, book2 = w.catalog.book(0), w.catalog.book(1)
            api = start_api(w.settings)
            worker = start_worker(w.settings, "steady")
            with running(api.child, worker):
                async with http_client(api.url) as client:
                    (alice, alice_id), (bob, bob_id) = [await client.sign_up() for _ in range(2)]
                    await rate(client, alice, book1, 3)
                    first = {book1: book_figures(book1, {3: 1}, (0, 0, 1), reviews=0)}
                    await until_exact(w, client, first, worker, api.child)

                    own.stop()
                    await rate(client, bob, book1, 5)
                    review = await client.data(
                        WRITE, {"i": {"bookId": book2, "text": "Gripping", "rating": 4}}, alice
                    )
                    review_id = review["writeReview"]["id"]
                    await client.data(COMMENT, {"r": review_id, "t": "Indeed"}, bob)
                    await client.data(FOLLOW_USER, {"u": alice_id}, bob)
                    assert await w.outbox() == 4
                    await eventually(
                        lambda: _logged(worker.output(), "backing service unavailable"),
                        "the worker to notice the outage",
                        worker,
                    )

                    own.start(persistent=redis_keeps_data)
                    expected = {
                        book1: book_figures(book1, {3: 1, 5: 1}, (0, 0, 2), reviews=0),
                        book2: book_figures(book2, {4: 1}, (0, 0, 1), reviews=1),
                        review_id: review_figures(review_id, likes=0, comments=1),
                        alice_id: user_figures(alice_id, reviews=1, followers=1, following=0),
                        bob_id: user_figures(bob_id, reviews=0, followers=0, following=1),
                    }
                    await until_exact(w, client, expected, worker, api.child)
                    await eventually(lambda: _outbox_empty(w), "the outbox to empty", worker)

                # A worker asked to stop while Redis is away still stops cleanly.
                own.stop()
                assert worker.terminate() == 0, worker.output()[-3000:]


async def _logged(output: str, text: str) -> bool:
    await asyncio.sleep(0)
    return text in output


async def test_worker_started_while_redis_is_down_waits_for_it(
    servers: Servers, tmp_path: Path
) -> None:
    """A worker (re)started during an outage does not die: it starts consuming, and sweeps the
    outbox filled meanwhile, once Redis answers."""
    with own_redis(tmp_path / "redis", persistent=True) as own:
        overrides = {"outbox_grace_seconds": 0.5, "sweep_interval_seconds": 0.5}
        async with world(servers, redis_url=own.url, **overrides) as w:
            own.stop()
            worker = start_worker(w.settings, "early")
            with running(worker):
                expected, _ = await ratings_script(w.client, w.catalog, users=2)
                assert await w.outbox() == 2
                await eventually(
                    lambda: _logged(worker.output(), "backing service unavailable"),
                    "the worker to find Redis down",
                    worker,
                )
                own.start(persistent=True)
                await until_exact(w, w.client, expected, worker)
                await eventually(lambda: _outbox_empty(w), "the outbox to empty", worker)
                assert worker.terminate() == 0


# --- MongoDB and Redis crash (SIGKILL) mid-run --------------------------------------------------

FOLLOWERS, TARGETS = 3, 12


@dataclass
class Crowd:
    """Users of a crash test: followers who act, and targets each followed exactly once, so
    that each target's followersCount hangs on one event alone (no later event of the run
    would recompute it and hide the loss of the first)."""

    followers: list[tuple[str, str]]  # (token, global id)
    targets: list[str]  # global ids


async def crowd(w: World) -> Crowd:
    followers = [await quick_user(w.app) for _ in range(FOLLOWERS)]
    targets = [(await quick_user(w.app))[1] for _ in range(TARGETS)]
    return Crowd(followers, targets)


def crash_script(w: World, people: Crowd) -> list[tuple[str, dict[str, Any], str]]:
    """(document, variables, token) in order: every target followed once, ratings changing."""
    ops: list[tuple[str, dict[str, Any], str]] = []
    for k, target in enumerate(people.targets):
        token = people.followers[k % FOLLOWERS][0]
        ops.append((FOLLOW_USER, {"u": target}, token))
        for j in (k, k + 1):
            rater = people.followers[j % FOLLOWERS][0]
            ops.append((RATE, {"b": w.catalog.book(j % 2), "s": (k + j) % 5 + 1}, rater))
    return ops


def crash_figures(w: World, people: Crowd, ops: list[tuple[str, dict[str, Any], str]]) -> Any:
    """The figures the script leads to, from the script alone."""
    last: dict[tuple[str, str], int] = {}  # (token, book) -> stars
    for document, variables, token in ops:
        if document == RATE:
            last[(token, variables["b"])] = variables["s"]
    expected: dict[str, Any] = {}
    for i in range(2):
        book = w.catalog.book(i)
        stars = Counter(s for (_, b), s in last.items() if b == book)
        expected[book] = book_figures(book, dict(stars), (0, 0, sum(stars.values())), 0)
    following = TARGETS // FOLLOWERS
    for _, user in people.followers:
        expected[user] = user_figures(user, reviews=0, followers=0, following=following)
    for user in people.targets:
        expected[user] = user_figures(user, reviews=0, followers=1, following=0)
    return expected


@dataclass
class Writer:
    """Sends the script through an API process, one mutation after the other, each until it is
    acknowledged (data, no errors), as a client retries; every one is idempotent."""

    acknowledged: int = 0
    refused: int = 0  # answers SERVICE_UNAVAILABLE or no answer, then retried

    task: "asyncio.Task[None] | None" = None

    def start(self, client: GraphQLClient, ops: list[tuple[str, dict[str, Any], str]]) -> None:
        self.task = asyncio.create_task(self.run(client, ops))

    async def reached(self, *, acknowledged: int = 0, refused: int = 0) -> None:
        """Until that many mutations were acknowledged and refused (the writer's own failure
        fails the wait)."""
        assert self.task is not None

        async def done() -> bool:
            if self.task is not None and self.task.done():
                self.task.result()
            return self.acknowledged >= acknowledged and self.refused >= refused

        await eventually(done, f"{acknowledged} acknowledged, {refused} refused", deadline=60)

    async def finished(self) -> None:
        assert self.task is not None
        await self.task

    async def run(self, client: GraphQLClient, ops: list[tuple[str, dict[str, Any], str]]) -> None:
        for document, variables, token in ops:
            while True:
                try:
                    response = await client.post(document, variables, token)
                except httpx.TransportError:
                    response = None
                if response is not None:
                    assert response.status_code == 200, response.text
                    body = response.json()
                    if not body.get("errors"):
                        self.acknowledged += 1
                        break
                    codes = {e["extensions"]["code"] for e in body["errors"]}
                    assert codes == {"SERVICE_UNAVAILABLE"}, body
                self.refused += 1
                await asyncio.sleep(0.1)


async def in_flight(w: World) -> int:
    """Events the group has not finished: pending plus not yet delivered."""
    group = await w.group()
    return int(group["pending"]) + int(group.get("lag") or 0)


async def crash_mid_run(w: World, crash: Callable[[Writer], Awaitable[None]]) -> Writer:
    """The crash script through an API process while a slow worker lags behind; a third of
    the way in (events pending and undelivered), `crash(writer)` kills a server and restarts
    it. Then every mutation must be acknowledged and reach its figures, the outbox empty,
    nothing pending and nothing dead-lettered."""
    people = await crowd(w)
    ops = crash_script(w, people)
    await w.stream.ensure_group()
    api = start_api(w.settings)
    worker = start_slow_worker(w.settings, "behind", stall_ms=300, stall_chance=1.0)
    writer = Writer()
    with running(api.child, worker):
        async with http_client(api.url) as client:
            writer.start(client, ops)
            await writer.reached(acknowledged=len(ops) // 3)
            assert await in_flight(w) > 0  # the crash catches events on their way
            await crash(writer)
            await writer.finished()
            assert writer.acknowledged == len(ops)
            await until_exact(w, w.client, crash_figures(w, people, ops), worker, api.child)
            await eventually(lambda: _outbox_empty(w), "the outbox to empty", worker)
        assert worker.terminate() == 0, worker.output()[-3000:]
    assert await w.pending() == 0
    assert await w.dead_letters() == []
    return writer


async def test_redis_killed_mid_run_restarts_from_its_aof_and_loses_nothing_acknowledged(
    servers: Servers, tmp_path: Path
) -> None:
    """Redis is SIGKILLed while mutations stream in and a slow worker is behind; mutations keep
    succeeding (the outbox); Redis restarts from its append-only file (appendfsync always, as
    in `make dev` and compose). Every acknowledged mutation reaches its figures, each target's
    single follow event included."""
    with own_redis(tmp_path / "redis", persistent=True) as own:

        async def crash(writer: Writer) -> None:
            own.kill()
            await writer.reached(acknowledged=writer.acknowledged + 8)  # during the outage
            assert await w.outbox() > 0
            own.start(persistent=True)

        overrides = {"outbox_grace_seconds": 0.5, "sweep_interval_seconds": 0.5}
        async with world(servers, redis_url=own.url, **overrides) as w:
            writer = await crash_mid_run(w, crash)
        assert writer.refused == 0  # mutations do not need Redis


async def test_mongodb_killed_mid_run_restarts_from_its_file_and_loses_nothing_acknowledged(
    servers: Servers, tmp_path: Path
) -> None:
    """mongoeco is SIGKILLed while mutations stream in and a slow worker is inside its batches;
    requests fail with SERVICE_UNAVAILABLE until it restarts on the same SQLite file, and the
    client retries them. Every acknowledged write survived the crash, and the figures are
    exact: the API and the worker recover by themselves (the worker re-applies the batch the
    crash interrupted without waiting CLAIM_IDLE_MS)."""
    with own_mongo(tmp_path / "books.db") as mongo:

        async def crash(writer: Writer) -> None:
            mongo.kill()
            await writer.reached(refused=3)
            mongo.start()

        # An entry of a request that failed mid-way is re-published 2 s later (above the 1 s
        # MongoDB timeout, so that a slow write is not overtaken by its own event).
        overrides = {
            "mongodb_timeout_ms": 1000,
            "outbox_grace_seconds": 2.0,
            "sweep_interval_seconds": 0.5,
        }
        async with world(servers, mongodb_url=mongo.url, **overrides) as w:
            await crash_mid_run(w, crash)
