"""Freshness: how long after a rating is accepted do readers see it in the book's figures?

    .venv/bin/python bench/freshness.py [--rate 20] [--seconds 15] [--users 400]

Starts its own servers (embedded MongoDB and Redis, `devtools.embedded.embedded_servers`), one
API process (uvicorn, `books serve`) and one worker process (`books worker run`), on a fresh
database holding one book. Then it sends a steady stream of `rateBook` mutations over HTTP,
`--rate` per second for `--seconds`, each from a different reader (users are inserted
directly and given tokens, so that argon2 sign-ups do not slow the set-up), and measures for
each rating the time from the mutation's response until

- poll: a `book { ratingStats { count } }` query, sent back to back by a poller, shows it
  (the poller is a logged-in reader by default; `--poll-as anonymous` polls as a visitor,
  whose responses come from the anonymous response cache when RESPONSE_CACHE is on);
- push: a `bookStatsChanged` subscription (graphql-transport-ws) pushes figures that show it.

Every rating is by a new reader on the same book, so the count only grows: rating number i
(in the order the responses came back) is visible once the count is at least i. Ratings are
paced, so that they seldom overlap and that order is the order of their source writes.

Baselines, measured in the same process tree: the rateBook round trip and the book query
round trip (the poller's own latency: a lower bound on what polling can observe).
"""

import argparse
import asyncio
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402
from bson import ObjectId  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from devtools.embedded import embedded_servers, free_port, settings_env  # noqa: E402
from service import auth  # noqa: E402
from service.ids import to_global_id  # noqa: E402
from service.repositories.users import new_user  # noqa: E402
from service.settings import Settings  # noqa: E402

RATE = "mutation($b: ID!, $s: Int!) { rateBook(bookId: $b, stars: $s) { id } }"
COUNT = "query($b: ID!) { book(id: $b) { ratingStats { count } } }"
SUBSCRIBE = "subscription($b: ID!) { bookStatsChanged(bookId: $b) { ratingStats { count } } }"


@dataclass
class Timeline:
    """What was seen, when (time.monotonic seconds)."""

    accepted: list[float] = field(default_factory=list)  # response time of each rating
    write_latency: list[float] = field(default_factory=list)
    polls: list[tuple[float, int]] = field(default_factory=list)  # (response time, count)
    poll_latency: list[float] = field(default_factory=list)
    pushes: list[tuple[float, int]] = field(default_factory=list)  # (arrival time, count)


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args], env=env, stdout=out, stderr=out, cwd=ROOT
        )


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the API exited during start-up")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the API did not start")


def seed(settings: Settings, users: int) -> tuple[str, list[str]]:
    """One book and `users` readers (inserted directly); the book's id and their tokens."""
    assert settings.mongodb_url and settings.jwt_secret
    book = ObjectId()
    with MongoClient(settings.mongodb_url) as mongo:
        doc = {"_id": book, "title": "Freshness", "genres": [], "author_ids": []}
        mongo[settings.mongodb_db].books.insert_one(doc)
    return to_global_id("Book", book), reader_tokens(settings, users)


def insert_readers(settings: Settings, count: int, prefix: str = "reader") -> list[ObjectId]:
    """`count` readers inserted directly (argon2 sign-ups would slow the set-up): a mutation
    refuses a token whose user does not exist. `prefix` keeps their usernames unique."""
    assert settings.mongodb_url
    docs = [new_user(f"{prefix}{i:05d}", f"Reader {i}", None) for i in range(count)]
    with MongoClient(settings.mongodb_url) as mongo:
        mongo[settings.mongodb_db].users.insert_many(docs)  # type: ignore[arg-type]
    return [d["_id"] for d in docs]


def reader_tokens(settings: Settings, count: int, prefix: str = "reader") -> list[str]:
    """`count` new readers' tokens (insert_readers)."""
    assert settings.jwt_secret
    ids = insert_readers(settings, count, prefix)
    return [auth.issue_token(i, settings.jwt_secret, 3600) for i in ids]


async def writer(
    http: httpx.AsyncClient,
    url: str,
    book: str,
    tokens: list[str],
    rate: float,
    seconds: float,
    seen: Timeline,
) -> None:
    total = int(rate * seconds)
    begin = time.monotonic()
    for i in range(total):
        await asyncio.sleep(max(0.0, begin + i / rate - time.monotonic()))
        sent = time.monotonic()
        response = await http.post(
            f"{url}/graphql",
            json={"query": RATE, "variables": {"b": book, "s": 1 + i % 5}},
            headers={"authorization": f"Bearer {tokens[i]}"},
        )
        done = time.monotonic()
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"rateBook failed: {response.status_code} {body}")
        seen.accepted.append(done)
        seen.write_latency.append(done - sent)


async def poller(
    http: httpx.AsyncClient,
    url: str,
    book: str,
    token: str | None,
    stop: asyncio.Event,
    seen: Timeline,
) -> None:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    while not stop.is_set():
        sent = time.monotonic()
        response = await http.post(
            f"{url}/graphql", json={"query": COUNT, "variables": {"b": book}}, headers=headers
        )
        done = time.monotonic()
        body = response.json()
        if "data" not in body or body.get("errors"):
            raise RuntimeError(f"book query failed: {response.status_code} {body}")
        seen.polls.append((done, body["data"]["book"]["ratingStats"]["count"]))
        seen.poll_latency.append(done - sent)


async def subscriber(
    url: str, book: str, ready: asyncio.Event, stop: asyncio.Event, seen: Timeline
) -> None:
    ws_url = url.replace("http://", "ws://", 1) + "/graphql"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": SUBSCRIBE, "variables": {"b": book}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        ready.set()
        while not stop.is_set():
            try:
                message = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
            except TimeoutError:
                continue
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message["type"] == "next":
                count = message["payload"]["data"]["bookStatsChanged"]["ratingStats"]["count"]
                seen.pushes.append((time.monotonic(), count))
            else:
                raise RuntimeError(f"unexpected message {message}")


def freshness(accepted: list[float], observed: list[tuple[float, int]]) -> list[float]:
    """Per rating i (1-based by response order): first observation with count >= i, minus its
    response time (0 when it was already visible when the response arrived)."""
    delays = []
    for i, at in enumerate(accepted, start=1):
        seen = next((t for t, count in observed if count >= i), None)
        if seen is None:
            raise RuntimeError(f"rating {i} was never observed (last seen: {observed[-3:]})")
        delays.append(max(0.0, seen - at))
    return delays


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def row(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<34} {len(ms):>5} {percentile(ms, 50):>8.1f} {percentile(ms, 90):>8.1f}"
        f" {percentile(ms, 99):>8.1f} {max(ms):>8.1f} {statistics.fmean(ms):>8.1f}"
    )


async def measure(
    url: str, book: str, tokens: list[str], rate: float, seconds: float, poll_token: str | None
) -> Timeline:
    seen = Timeline()
    stop, ready = asyncio.Event(), asyncio.Event()
    async with httpx.AsyncClient(timeout=30) as writes, httpx.AsyncClient(timeout=30) as reads:
        pushes = asyncio.create_task(subscriber(url, book, ready, stop, seen))
        await asyncio.wait_for(ready.wait(), 30)
        await asyncio.sleep(0.5)  # the API's stats hub subscribes to Redis on its first subscriber
        polls = asyncio.create_task(poller(reads, url, book, poll_token, stop, seen))
        await writer(writes, url, book, tokens, rate, seconds, seen)
        total = len(seen.accepted)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            seen.polls
            and seen.polls[-1][1] >= total
            and seen.pushes
            and seen.pushes[-1][1] >= total
        ):
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(polls, pushes)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="ratings per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long to send them")
    parser.add_argument(
        "--poll-as",
        choices=["reader", "anonymous"],
        default="reader",
        help="who polls: a logged-in reader, or anonymous (served from the response cache)",
    )
    parser.add_argument("--logs", type=Path, default=ROOT / "bench" / "out", help="child logs")
    options = parser.parse_args()
    total = int(options.rate * options.seconds)
    options.logs.mkdir(parents=True, exist_ok=True)
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])

    with embedded_servers(None) as servers:
        db = f"bench_{uuid4().hex[:8]}"
        settings = Settings(
            mongodb_url=servers.mongodb_url,
            redis_url=servers.redis_url,
            mongodb_db=db,
            stream_key=f"events:{db}",
            dead_letter_stream=f"events:{db}:dead",
            stats_channel=f"book-stats:{db}",
            redis_prefix=db,
            jwt_secret="bench-secret-" + "x" * 32,
            log_level="WARNING",
            rate_limit_enabled=False,  # one client sends everything: no per-client limits
            json_logs=False,
        )
        book, tokens = seed(settings, total + 1)
        poll_token = tokens.pop() if options.poll_as == "reader" else None
        port = free_port()
        api = start(
            ["serve"],
            settings_env(settings, HOST="127.0.0.1", PORT=str(port)),
            options.logs / "api.log",
        )
        worker = start(
            ["worker", "run", "--name", "bench"],
            settings_env(settings),
            options.logs / "worker.log",
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, api)
            seen = asyncio.run(
                measure(url, book, tokens, options.rate, options.seconds, poll_token)
            )
        finally:
            for process in (api, worker):
                process.terminate()
            for process in (api, worker):
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()

    print(f"command: {command}")
    poller_kind = "a logged-in reader" if options.poll_as == "reader" else "an anonymous client"
    print(
        "setup: embedded mongoeco (memory) + redis, 1 API process (uvicorn), 1 worker"
        f" (WORKER_BATCH_SIZE={settings.worker_batch_size},"
        f" WORKER_BLOCK_MS={settings.worker_block_ms}, RESPONSE_CACHE={settings.response_cache});"
        f" {total} ratings of one book by {total} readers"
        f" at {options.rate:g}/s for {options.seconds:g} s; polled by {poller_kind}"
    )
    print(f"{'measure (ms)':<34} {'n':>5} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'mean':>8}")
    print(row("freshness, poll (response->seen)", freshness(seen.accepted, seen.polls)))
    print(row("freshness, push (response->push)", freshness(seen.accepted, seen.pushes)))
    print(row("baseline: rateBook round trip", seen.write_latency))
    print(row("baseline: book query round trip", seen.poll_latency))
    print(f"pushes received: {len(seen.pushes)}; polls: {len(seen.polls)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
