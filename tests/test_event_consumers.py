"""Other teams' consumers of the event stream, with real processes: the example consumer
(examples/rating_counter.py, redis-py only) in its own group beside our worker, through random
ratings, duplicated deliveries and a crash; trimming that never drops what its group has not
acknowledged; a slow group that does not slow our worker and shows as lag (`books worker
status`, `books events groups`, /metrics); `books events tail`.

The API is in-process (its mutations' events are checked against the contract by conftest);
the worker, the example consumer and the CLI commands are child processes.
"""

import ast
import asyncio
import json
import os
import random
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import ResponseError

from devtools.embedded import Servers, settings_env
from service.events import structured
from tests.support.documents import quick_user
from tests.support.figures import book_figures, figures
from tests.support.operations import CLEAR, DELETE_REVIEW, LIKE, RATE, WRITE
from tests.support.pipeline import (
    World,
    another_trim,
    eventually,
    text_of,
    until_exact,
    world,
)
from tests.support.processes import (
    Child,
    books_json,
    running,
    start_child,
    start_python,
    start_worker,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "rating_counter.py"
COUNTER_GROUP = "rating-counter"


# --- the example consumer as a process ---------------------------------------------------------


def start_counter(w: World, consumer: str, group: str = COUNTER_GROUP, **options: Any) -> Child:
    """examples/rating_counter.py, as another team would run it (not on our PYTHONPATH)."""
    args = [str(EXAMPLE), "--redis-url", str(w.settings.redis_url)]
    args += ["--stream", w.settings.stream_key, "--group", group, "--consumer", consumer]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return start_python(f"counter-{consumer}", args, env)


async def group_info(w: World, name: str) -> dict[str, Any] | None:
    try:
        groups = await w.redis.xinfo_groups(w.settings.stream_key)
    except ResponseError:  # no stream yet
        return None
    return next((dict(g) for g in groups if text_of(g["name"]) == name), None)


async def caught_up(w: World, name: str) -> bool:
    info = await group_info(w, name)
    return info is not None and int(info["pending"]) == 0 and info.get("lag") == 0


async def blocked_reading(w: World, client_name: str, command: str) -> bool:
    """A client of that name (the example names its connection after its consumer) waits in
    a blocking read: the next XADD is delivered to it at once."""
    clients = await w.redis.client_list()
    return any(
        c.get("name") == client_name and c.get("cmd") == command and "b" in c.get("flags", "")
        for c in clients
    )


async def counts_of(w: World, book: Any, group: str = COUNTER_GROUP) -> dict[int, int]:
    raw = await w.redis.hgetall(f"{group}:stars:{book}")
    return {int(text_of(k)): int(v) for k, v in raw.items() if int(v)}


async def stats_of(w: World, group: str = COUNTER_GROUP) -> dict[str, int]:
    raw = await w.redis.hgetall(f"{group}:stats")
    return {text_of(k): int(v) for k, v in raw.items()}


# --- random readers ------------------------------------------------------------------------


@dataclass
class Readers:
    """Readers changing their ratings of two books at random through the API, one event per
    step, and what the figures must become."""

    w: World
    tokens: list[str]
    rng: random.Random
    entries: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    appended: list[dict[str, str]] = field(default_factory=list)  # every event, in order

    async def step(self) -> None:
        reader, book = self.rng.randrange(len(self.tokens)), self.rng.randrange(2)
        token, book_id = self.tokens[reader], self.w.catalog.book(book)
        entry = self.entries.get((reader, book))
        roll = self.rng.random()
        client = self.w.client
        if roll < 0.15:
            await client.data(CLEAR, {"b": book_id}, token)
            if entry:
                entry["rating"] = None  # the entry stays, on its shelf
        elif roll < 0.3:
            stars = self.rng.choice([None, 1, 2, 3, 4, 5])
            review: dict[str, Any] = {"bookId": book_id, "text": f"take {len(self.appended)}"}
            if stars is not None:
                review["rating"] = stars
            written = await client.data(WRITE, {"i": review}, token)
            kept = entry["rating"] if entry else None
            self.entries[(reader, book)] = {
                "id": written["writeReview"]["id"],
                "rating": kept if stars is None else stars,
                "text": True,
            }
        elif roll < 0.4 and entry:
            await client.data(DELETE_REVIEW, {"id": entry["id"]}, token)
            del self.entries[(reader, book)]
        else:
            stars = self.rng.randint(1, 5)
            rated = await client.data(RATE, {"b": book_id, "s": stars}, token)
            text = bool(entry and entry["text"])
            self.entries[(reader, book)] = {
                "id": rated["rateBook"]["id"],
                "rating": stars,
                "text": text,
            }
        [(_, fields)] = await self.w.redis.xrevrange(self.w.settings.stream_key, count=1)
        self.appended.append({text_of(k): text_of(v) for k, v in fields.items()})

    async def duplicate(self, count: int) -> None:
        """Append `count` events again, as the outbox re-publishing them would (same ids)."""
        for fields in self.rng.sample(self.appended, count):
            await self.w.redis.xadd(self.w.settings.stream_key, fields)

    def stars(self, book: int) -> dict[int, int]:
        found: dict[int, int] = {}
        for (_, b), entry in self.entries.items():
            if b == book and entry["rating"]:
                found[entry["rating"]] = found.get(entry["rating"], 0) + 1
        return found

    def figures(self) -> dict[str, Any]:
        expected = {}
        for book in (0, 1):
            mine = [e for (_, b), e in self.entries.items() if b == book]
            reviews = sum(1 for e in mine if e["text"])
            node = self.w.catalog.book(book)
            expected[node] = book_figures(node, self.stars(book), (0, 0, len(mine)), reviews)
        return expected


async def readers(w: World, count: int, seed: int) -> Readers:
    tokens = [(await quick_user(w.app))[0] for _ in range(count)]
    return Readers(w, tokens, random.Random(seed))


# --- the example beside our worker ----------------------------------------------------------


@pytest.mark.slow  # real worker, example and CLI processes
async def test_the_example_consumer_ends_with_the_workers_figures(servers: Servers) -> None:
    """Random ratings, 12 events appended twice, and the example killed while it held one:
    its own counts end equal to our worker's histograms, each event counted exactly once.
    While it is dead, trimming removes what both groups acknowledged and nothing else."""
    async with world(servers, trim_interval_seconds=0.2, worker_heartbeat_seconds=0.1) as w:
        worker = start_worker(w.settings, "agg")
        first = start_counter(w, "counter-1", start="0", block_ms=60_000)
        with running(worker, first):
            await eventually(
                lambda: blocked_reading(w, "counter-1", "xreadgroup"), "the example", first
            )
            people = await readers(w, 6, seed=14)
            for _ in range(30):
                await people.step()
            await people.duplicate(6)

            async def first_half_counted() -> bool:
                return await caught_up(w, COUNTER_GROUP) and await blocked_reading(
                    w, "counter-1", "xreadgroup"
                )

            await eventually(first_half_counted, "the example to catch up", first, worker)

            # Frozen while it waits for events: the next one is delivered to it, then it dies.
            first.signal(signal.SIGSTOP)
            [(last_before, _)] = await w.redis.xrevrange(w.settings.stream_key, count=1)
            for _ in range(30):
                await people.step()
            await people.duplicate(6)
            first.kill()
            key = w.settings.stream_key
            after_first_half = f"({text_of(last_before)}"  # exclusive
            second_half = [text_of(i) for i, _ in await w.redis.xrange(key, after_first_half)]
            assert len(second_half) == 36  # 30 steps + 6 duplicates
            held = await w.redis.xpending_range(
                key, COUNTER_GROUP, "-", "+", 100, consumername="counter-1"
            )
            # Delivered to its blocked read, never acknowledged; the rest never delivered.
            assert [text_of(h["message_id"]) for h in held] == second_half[:1]
            info = await group_info(w, COUNTER_GROUP)
            assert info is not None and info["lag"] == 35

            # Our worker goes on and trims: what both groups acknowledged goes, nothing else.
            await eventually(lambda: caught_up(w, w.settings.consumer_group), "worker", worker)
            for _ in range(2):
                await another_trim(w, worker, "agg")
            assert [text_of(i) for i, _ in await w.redis.xrange(key)] == second_half

            # A new consumer of the group claims what the dead one held, and reads the rest.
            second = start_counter(w, "counter-2", claim_idle_ms=500, block_ms=200)
            with running(second):
                await until_exact(w, w.client, people.figures(), worker, second)
                await eventually(lambda: caught_up(w, COUNTER_GROUP), "the example", second)
                shown = await figures(w.client, [w.catalog.book(b) for b in (0, 1)])
                for book in (0, 1):
                    histogram = shown[w.catalog.book(book)]["ratingStats"]["histogram"]
                    worker_counts = {h["stars"]: h["count"] for h in histogram if h["count"]}
                    counted = await counts_of(w, w.catalog.books[book])
                    assert counted == worker_counts == people.stars(book)
                assert await stats_of(w) == {"events": 60, "duplicates": 12}
                assert second.terminate() == 0


# --- a slow group ------------------------------------------------------------------------------


async def scrape_groups(w: World) -> dict[tuple[str, str], float]:
    """(metric, group) -> value of the per-group pipeline gauges on /metrics."""
    response = await w.client.http.get("/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name in ("events_lag", "events_pending"):
                found[(sample.name, sample.labels["group"])] = sample.value
    return found


@pytest.mark.slow  # real worker, example and CLI processes
async def test_a_slow_group_does_not_slow_the_worker_and_shows_as_lag(servers: Servers) -> None:
    async with world(servers, trim_interval_seconds=0.2, worker_heartbeat_seconds=0.1) as w:
        worker = start_worker(w.settings, "agg")
        slow = start_counter(w, "slowpoke", group="slow-team", delay_ms=600_000, batch=1)
        with running(worker, slow):
            await eventually(lambda: group_info(w, "slow-team"), "the slow group", slow)
            people = await readers(w, 5, seed=7)
            for _ in range(5):
                await people.step()
            await until_exact(w, w.client, people.figures(), worker, slow)
            ids = [f["id"] for f in people.appended]
            entries = [text_of(i) for i, _ in await w.redis.xrange(w.settings.stream_key)]
            assert len(entries) == 5

            async def shown() -> bool:
                mine = await group_info(w, w.settings.consumer_group)
                theirs = await group_info(w, "slow-team")
                return (
                    mine is not None
                    and theirs is not None
                    and (int(mine["pending"]), mine["lag"]) == (0, 0)
                    and (int(theirs["pending"]), theirs["lag"]) == (1, 4)
                )

            await eventually(shown, "our group drained, theirs lagging", worker, slow)
            expected = {
                w.settings.consumer_group: {
                    "name": w.settings.consumer_group,
                    "consumers": 1,
                    "pending": 0,
                    "lag": 0,
                    "last_delivered": entries[-1],
                },
                "slow-team": {
                    "name": "slow-team",
                    "consumers": 1,
                    "pending": 1,
                    "lag": 4,
                    "last_delivered": entries[0],
                },
            }
            status = books_json(w.settings, "worker", "status")
            assert {g["name"]: g for g in status["groups"]} == expected
            groups = books_json(w.settings, "events", "groups")
            assert {g["name"]: g for g in groups} == expected
            assert await scrape_groups(w) == {
                ("events_pending", w.settings.consumer_group): 0.0,
                ("events_lag", w.settings.consumer_group): 0.0,
                ("events_pending", "slow-team"): 1.0,
                ("events_lag", "slow-team"): 4.0,
            }
            # Trims go on; all five wait for the slow group (one pending, four undelivered).
            for _ in range(2):
                await another_trim(w, worker, "agg")
            assert [text_of(i) for i, _ in await w.redis.xrange(w.settings.stream_key)] == entries
            assert len(set(ids)) == 5
            # SIGTERM ends its wait at once: it exits cleanly, the event still pending.
            assert slow.terminate() == 0
            assert int((await group_info(w, "slow-team"))["pending"]) == 1  # type: ignore[index]
            assert worker.terminate() == 0


# --- books events tail --------------------------------------------------------------------------


@pytest.mark.slow  # real worker, example and CLI processes
async def test_events_tail_prints_events_as_they_arrive(servers: Servers) -> None:
    async with world(servers) as w:
        people = await readers(w, 2, seed=3)
        await people.step()  # appended before the tails start: not printed
        env = settings_env(w.settings)
        ratings = start_child("tail-ratings", ["events", "tail", "--type", "rating.set"], env, True)
        every = start_child("tail-all", ["events", "tail"], env, True)
        with running(ratings, every):

            async def both_waiting() -> bool:
                clients = await w.redis.client_list()
                waiting = [
                    c
                    for c in clients
                    if c.get("name") == "books-events-tail" and c.get("cmd") == "xread"
                ]
                return len(waiting) == 2

            await eventually(both_waiting, "two tails reading", ratings, every)
            book = w.catalog.book(0)
            me, other = people.tokens
            rated = await w.client.data(RATE, {"b": book, "s": 4}, me)
            await w.client.data(LIKE, {"r": rated["rateBook"]["id"]}, other)
            await w.client.data(RATE, {"b": book, "s": 2}, other)
            appended = [
                structured(fields) for _, fields in await w.redis.xrange(w.settings.stream_key)
            ][1:]
            assert [e["type"] for e in appended] == ["rating.set", "like.added", "rating.set"]
            assert appended[0]["data"]["stars"] == 4  # structured: data is an object

            async def printed(child: Child, count: int) -> list[dict[str, Any]] | None:
                await asyncio.sleep(0)
                lines = child.stdout_lines()
                return [json.loads(line) for line in lines] if len(lines) >= count else None

            assert await eventually(lambda: printed(every, 3), "3 lines", every) == appended
            only = await eventually(lambda: printed(ratings, 2), "2 lines", ratings)
            assert only == [appended[0], appended[2]]

            ratings.signal(signal.SIGINT)
            assert ratings.process.wait(15) == 0, ratings.output()
            assert every.terminate() == 0, every.output()
            for child in (ratings, every):
                assert "Traceback" not in child.output()
            assert len(every.stdout_lines()) == 3 and len(ratings.stdout_lines()) == 2


# --- the example stands alone ---------------------------------------------------------------


def test_the_example_imports_nothing_of_the_service() -> None:
    """Another team's worker needs only the contract and a Redis client."""
    tree = ast.parse(EXAMPLE.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"redis"}
