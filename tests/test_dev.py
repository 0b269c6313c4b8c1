"""`make dev`'s supervisor (`books dev`, devtools/dev.py) as a real process tree: its worker
SIGKILLed, the API keeps accepting ratings, the supervisor says the worker exited and restarts
it, and the restarted worker applies the ratings; SIGTERM then stops everything with exit 0.
The session's MongoDB and Redis stand in for the embedded servers (MONGODB_URL, REDIS_URL)."""

import os
import re
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from devtools.embedded import Servers, free_port, settings_env
from tests.support.app import app_settings, http_client
from tests.support.pipeline import eventually
from tests.support.processes import Child, start_child

pytestmark = pytest.mark.slow  # `books dev`: seed, API and worker processes

BOOK = "{ books(first: 1) { edges { node { id ratingStats { count } } } } }"
RATE = "mutation($b: ID!, $s: Int!) { rateBook(bookId: $b, stars: $s) { rating } }"
STARTED = re.compile(r"dev: worker started \(pid (\d+)\)")
RESTARTED = re.compile(r"dev: worker restarted \(pid (\d+)\)")


def announced(dev: Child, pattern: re.Pattern[str]) -> Callable[[], Awaitable[list[int]]]:
    """The pids the supervisor has announced so far with `pattern` (to wait for)."""

    async def pids() -> list[int]:
        return [int(pid) for pid in pattern.findall(dev.output())]

    return pids


async def test_a_killed_worker_is_restarted_and_announced_and_ratings_are_applied(
    servers: Servers, tmp_path: Path
) -> None:
    port = free_port()
    settings = app_settings(servers.mongodb_url, servers.redis_url, json_logs=False)
    env = settings_env(
        settings, DATA_DIR=str(tmp_path), PORT=str(port), DEMO_SCALE="0.005", LOG_LEVEL="WARNING"
    )
    dev = start_child("dev", ["dev"], env)
    try:
        async with http_client(f"http://127.0.0.1:{port}") as gql:

            async def serving() -> bool:
                try:
                    return (await gql.http.get("/healthz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(serving, "books dev to serve", dev, deadline=120)
            [first] = await eventually(announced(dev, STARTED), "the worker's start", dev)

            async def count() -> int:
                node = (await gql.data(BOOK))["books"]["edges"][0]["node"]
                return int(node["ratingStats"]["count"])

            book = (await gql.data(BOOK))["books"]["edges"][0]["node"]["id"]
            base = await count()
            tokens = [(await gql.sign_up())[0] for _ in range(2)]

            os.kill(first, signal.SIGKILL)
            # The API does not depend on the worker: the rating is accepted at once.
            assert await gql.data(RATE, {"b": book, "s": 5}, tokens[0]) == {
                "rateBook": {"rating": 5}
            }
            [second] = await eventually(announced(dev, RESTARTED), "the worker's restart", dev)
            assert second != first
            assert "dev: worker exited (code -9); restarting it in 1 s" in dev.output()
            await gql.data(RATE, {"b": book, "s": 4}, tokens[1])

            async def applied() -> bool:
                return await count() == base + 2

            await eventually(applied, "both ratings applied by the restarted worker", dev)
    finally:
        dev.signal(signal.SIGTERM)
        code = dev.process.wait(30)
    assert code == 0, dev.output()
    assert "dev: stopped" in dev.output()
    assert "exited unexpectedly" not in dev.output()
