"""Workers that fall behind show on /readyz and /metrics, with real worker processes: a worker
paused with SIGSTOP while ratings come in makes /readyz say `degraded` (HTTP 200: the API still
serves) with the events waiting, the oldest one's age past READY_MAX_EVENT_AGE_SECONDS and no
worker alive; the gauges events_oldest_unapplied_seconds and workers_alive say the same. After
SIGCONT it catches up and everything reads healthy again."""

import signal
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devtools.embedded import Servers
from tests.support.pipeline import World, eventually, ratings_script, until_exact, world
from tests.support.processes import running, start_worker

pytestmark = pytest.mark.slow  # worker processes

MAX_AGE = 2.0  # READY_MAX_EVENT_AGE_SECONDS of these tests
HEARTBEAT = 0.5  # WORKER_HEARTBEAT_SECONDS: a silent worker's heartbeat expires after 2 s


async def readiness(w: World) -> tuple[int, dict[str, Any]]:
    response = await w.client.http.get("/readyz")
    return response.status_code, response.json()


async def gauges(w: World) -> dict[str, float]:
    """The pipeline's backlog gauges of /metrics."""
    response = await w.client.http.get("/metrics")
    wanted = {"events_oldest_unapplied_seconds", "workers_alive"}
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name in wanted
    }


def healthy(workers: int, max_age: float = MAX_AGE) -> tuple[int, dict[str, Any]]:
    """/readyz of a pipeline that keeps up, with `workers` workers alive."""
    return 200, {
        "status": "ready",
        "mongodb": "ok",
        "redis": "ok",
        "pipeline": {
            "status": "ok",
            "events_pending": 0,
            "oldest_unapplied_seconds": 0.0,
            "workers_alive": workers,
            "max_event_age_seconds": max_age,
        },
    }


async def test_a_paused_worker_shows_as_lag_on_readyz_and_metrics_until_it_resumes(
    servers: Servers,
) -> None:
    async with world(
        servers, worker_heartbeat_seconds=HEARTBEAT, ready_max_event_age_seconds=MAX_AGE
    ) as w:
        worker = start_worker(w.settings, "pausable")
        with running(worker):

            async def ready_with_a_worker() -> bool:
                return await readiness(w) == healthy(1)

            await eventually(ready_with_a_worker, "a worker alive, nothing waiting", worker)
            assert await gauges(w) == {"events_oldest_unapplied_seconds": 0, "workers_alive": 1}

            worker.signal(signal.SIGSTOP)
            try:
                expected, _ = await ratings_script(w.client, w.catalog, users=3)

                async def lagging() -> tuple[int, dict[str, Any]] | None:
                    code, body = await readiness(w)
                    pipeline = body["pipeline"]
                    old = pipeline["oldest_unapplied_seconds"] > MAX_AGE
                    return (code, body) if old and pipeline["workers_alive"] == 0 else None

                code, body = await eventually(lagging, "/readyz to report the paused worker")
                assert code == 200  # the API still serves: degraded, not unavailable
                assert body["status"] == "degraded"
                assert (body["mongodb"], body["redis"]) == ("ok", "ok")
                pipeline = body["pipeline"]
                assert pipeline["status"] == "lagging"
                assert pipeline["events_pending"] == 3
                age = pipeline["oldest_unapplied_seconds"]
                assert pipeline["problems"] == [
                    f"the oldest unapplied event is {age:.1f} s old"
                    f" (READY_MAX_EVENT_AGE_SECONDS={MAX_AGE:g})",
                    "3 events wait and no worker is alive",
                ]
                metrics = await gauges(w)
                assert metrics["workers_alive"] == 0
                assert metrics["events_oldest_unapplied_seconds"] > MAX_AGE
            finally:
                worker.signal(signal.SIGCONT)

            await until_exact(w, w.client, expected, worker)  # the ratings applied after all
            await eventually(ready_with_a_worker, "/readyz healthy again", worker)
            assert await gauges(w) == {"events_oldest_unapplied_seconds": 0, "workers_alive": 1}


async def test_events_waiting_with_no_worker_at_all_read_as_degraded(servers: Servers) -> None:
    # A limit no event reaches here: only the missing worker is reported.
    async with world(servers, ready_max_event_age_seconds=3600) as w:
        assert await readiness(w) == healthy(0, max_age=3600)  # nothing waits: no worker needed
        await ratings_script(w.client, w.catalog, users=2)

        code, body = await readiness(w)
        assert (code, body["status"]) == (200, "degraded")
        assert body["pipeline"]["events_pending"] == 2
        assert body["pipeline"]["workers_alive"] == 0
        assert body["pipeline"]["problems"] == ["2 events wait and no worker is alive"]
        assert (await gauges(w))["workers_alive"] == 0
