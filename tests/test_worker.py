"""The aggregation worker as a real process (`books worker run`) on the real Redis stream.

Every test gets its own database and stream; workers and API servers are child processes
started from tests/support/processes.py and always stopped by `running(...)`. Nothing is
mocked and no test asserts wall time: a test polls until a condition holds or a generous
deadline passes.
"""

import signal
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId

from devtools.embedded import Servers
from service.ids import to_global_id
from service.pipeline import PipelineNames
from tests.support.app import http_client
from tests.support.documents import review_doc, user_doc
from tests.support.figures import book_figures, user_figures
from tests.support.pipeline import (
    another_trim,
    entry_event,
    eventually,
    every_aggregate_script,
    lag_zero,
    ratings_script,
    text_of,
    until_exact,
    wait_blocked_reader,
    wait_consumer,
    world,
)
from tests.support.processes import (
    running,
    start_api,
    start_worker,
    status_of,
    worker_status,
)

pytestmark = pytest.mark.slow  # real API and worker processes
T0 = datetime(2020, 1, 1, tzinfo=UTC)

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
        last_delivered = text_of((await w.group())["last-delivered-id"])
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
        assert [text_of(i) for i, _ in taken[0][1]] == [text_of(i) for i in held]
        later = [text_of(await w.redis.xadd(key, entry_event(user, book))) for _ in range(4)]

        worker = start_worker(w.settings, "trimmer")
        with running(worker):

            async def applied_later() -> bool:
                group = await w.group()
                return group.get("lag") == 0 and await w.pending() == 3

            await eventually(applied_later, "the later events to be applied", worker)
            # Trims keep running; watch several of them (the worker's heartbeat counts them).
            for _ in range(3):
                await another_trim(w, worker, "trimmer")
                ids = await w.stream_ids()
                assert ids == [text_of(i) for i in held] + later  # the older, acked one is gone
            assert await w.pending("crashed") == 3
            assert worker.terminate() == 0


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
        assert [{text_of(k): text_of(v) for k, v in f.items()} for _, f in entries] == [
            in_stream,
            in_outbox,
        ]


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
        # With the worker gone nothing trims: the command shows the stream's length as it is.
        stopped = worker_status(w.settings)
        assert stopped["length"] == await w.redis.xlen(w.settings.stream_key)
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
    async with world(servers, worker_heartbeat_seconds=1.0) as w:
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
            assert 0 < await w.redis.pttl(key) <= 3000  # three intervals of 1 s

            async def gone() -> bool:
                return states() == {}

            await eventually(gone, "both workers to drop out")
