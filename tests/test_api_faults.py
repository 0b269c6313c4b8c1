"""The API process when what it depends on fails, with real processes and sockets: MongoDB
stopping and coming back (also: not there when the API starts), Redis stopping and coming back
(mutations, rate limits, the response cache, subscriptions, figures), and SIGTERM with requests
and WebSockets open.

Nothing is mocked and nothing asserts wall time: a request that must "fail fast" has to answer
within the HTTP client's timeout instead of hanging, and recovery is polled for with a generous
deadline. MongoDB and Redis that a test stops are servers of the test's own, restarted on the
same port with their data (a SQLite file; an append-only file).
"""

import asyncio
import hashlib
import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo import MongoClient
from websockets.exceptions import ConnectionClosed

from devtools.embedded import (
    Servers,
)
from service.ids import to_global_id
from service.settings import Settings
from tests.support.app import app_settings
from tests.support.pipeline import eventually, world
from tests.support.processes import ApiServer, running, start_api, start_worker
from tests.support.servers import own_mongo, own_redis
from tests.support.websocket import books_hub_listening, connected, next_book, subscribe

pytestmark = pytest.mark.slow  # real API and worker processes

HTTP_TIMEOUT = 10.0  # MONGODB_TIMEOUT_MS=1000 plus a wide margin: "fails fast, never hangs"
TITLE_QUERY = "query Title($id: ID!) { book(id: $id) { title } }"
BOOK_PAGE = """
query BookPage($id: ID!) {
  book(id: $id) {
    title
    ratingStats { count average }
    shelfCounts { read }
  }
}
"""
SIGN_UP = "mutation SignUp($i: SignUpInput!) { signUp(input: $i) { token } }"
RATE = "mutation Rate($b: ID!, $s: Int!) { rateBook(bookId: $b, stars: $s) { id } }"
# What a client must never see of an outage: driver names, addresses, traces.
LEAKS = ("pymongo", "redis.", "Traceback", "ServerSelection", "Connection refused", "127.0.0.1")


def insert_book(settings: Settings, title: str) -> str:
    with MongoClient(settings.mongodb_url, serverSelectionTimeoutMS=10_000) as mongo:
        oid = ObjectId()
        mongo[settings.mongodb_db].books.insert_one(
            {"_id": oid, "title": title, "genres": [], "author_ids": []}
        )
    return to_global_id("Book", oid)


@asynccontextmanager
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        yield http


async def graphql(
    http: httpx.AsyncClient,
    api: ApiServer,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    body = {"query": query, "variables": variables or {}}
    return await http.post(api.graphql_url, json=body, headers=headers)


async def data(
    http: httpx.AsyncClient,
    api: ApiServer,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    response = await graphql(http, api, query, variables, token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]  # type: ignore[no-any-return]


async def sign_up(http: httpx.AsyncClient, api: ApiServer, name: str | None = None) -> str:
    variables = {"i": {"username": name or f"f{ObjectId()}", "password": "pw-12345678"}}
    return str((await data(http, api, SIGN_UP, variables))["signUp"]["token"])


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    """A SERVICE_UNAVAILABLE answer that tells the client nothing about the cause."""
    assert response.status_code == 200, response.text
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE", body
    assert error["message"] == "the service is temporarily unavailable; try again shortly"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    for leak in LEAKS:
        assert leak not in response.text, response.text
    return error  # type: ignore[no-any-return]


async def readiness(http: httpx.AsyncClient, api: ApiServer) -> tuple[int, dict[str, str]]:
    """/readyz's code and what it says of MongoDB and Redis (its pipeline section is
    test_pipeline_health.py's)."""
    response = await http.get(f"{api.url}/readyz")
    body = response.json()
    return response.status_code, {k: body[k] for k in ("status", "mongodb", "redis")}


READY = (200, {"status": "ready", "mongodb": "ok", "redis": "ok"})
MONGO_DOWN = (503, {"status": "unavailable", "mongodb": "unreachable", "redis": "ok"})
REDIS_DOWN = (503, {"status": "unavailable", "mongodb": "ok", "redis": "unreachable"})


# --- MongoDB unreachable ----------------------------------------------------------------------


async def test_mongodb_outage_fails_fast_and_the_api_recovers_by_itself(
    servers: Servers, tmp_path: Path
) -> None:
    with own_mongo(tmp_path / "books.db") as mongo:
        settings = app_settings(
            mongo.url, servers.redis_url, mongodb_timeout_ms=1000, response_cache=False
        )
        book = insert_book(settings, "Survivor")
        api = start_api(settings, JSON_LOGS="true")
        with running(api.child):
            async with client() as http:
                token = await sign_up(http, api)
                assert await data(http, api, TITLE_QUERY, {"id": book}) == {
                    "book": {"title": "Survivor"}
                }
                assert await readiness(http, api) == READY

                mongo.stop()
                # The first request after the loss may find a dead pooled connection, the next
                # ones wait for server selection: each answers within the client's timeout.
                for _ in range(2):
                    assert_unavailable(await graphql(http, api, TITLE_QUERY, {"id": book}))
                response = await graphql(http, api, RATE, {"b": book, "s": 3}, token)
                error = assert_unavailable(response)
                assert error["path"] == ["rateBook"]
                assert_unavailable(
                    await graphql(
                        http, api, SIGN_UP, {"i": {"username": "late", "password": "pw-12345678"}}
                    )
                )
                assert await readiness(http, api) == MONGO_DOWN
                assert (await http.get(f"{api.url}/healthz")).status_code == 200
                # The cause is in the log, under the request id the client got.
                request_id = error["extensions"]["requestId"]
                logged = [json.loads(line) for line in api.child.output().splitlines()]
                assert any(
                    line.get("request_id") == request_id
                    and "backing service unavailable" in line["message"]
                    for line in logged
                )

                mongo.start()  # same port, same file

                async def answers() -> dict[str, Any] | None:
                    response = await graphql(http, api, TITLE_QUERY, {"id": book})
                    body = response.json()
                    return None if body.get("errors") else body["data"]

                recovered = await eventually(answers, "a query to succeed again", api.child)
                assert recovered == {"book": {"title": "Survivor"}}
                assert await readiness(http, api) == READY
                await data(http, api, RATE, {"b": book, "s": 3}, token)  # writes work again


async def test_api_started_while_mongodb_is_down_serves_once_it_is_up(
    servers: Servers, tmp_path: Path
) -> None:
    with own_mongo(tmp_path / "books.db", started=False) as mongo:
        settings = app_settings(
            mongo.url, servers.redis_url, mongodb_timeout_ms=1000, response_cache=False
        )
        api = start_api(settings)  # returns once /healthz answers 200
        with running(api.child):
            async with client() as http:
                assert (await http.get(f"{api.url}/healthz")).status_code == 200
                assert await readiness(http, api) == MONGO_DOWN
                missing = to_global_id("Book", ObjectId())
                assert_unavailable(await graphql(http, api, TITLE_QUERY, {"id": missing}))

                mongo.start()
                book = insert_book(settings, "Late")

                async def answers() -> dict[str, Any] | None:
                    body = (await graphql(http, api, TITLE_QUERY, {"id": book})).json()
                    return None if body.get("errors") else body["data"]

                assert await eventually(answers, "the first query", api.child) == {
                    "book": {"title": "Late"}
                }
                assert await readiness(http, api) == READY

                # The indexes the start-up could not create are created in the background: the
                # unique username index refuses a second account of the same name.
                def unique_usernames() -> bool:
                    with MongoClient(settings.mongodb_url) as sync:
                        indexes = sync[settings.mongodb_db].users.index_information()
                    return any(
                        i.get("unique") and i["key"] == [("username_key", 1)]
                        for i in indexes.values()
                    )

                async def indexed() -> bool:
                    return await asyncio.to_thread(unique_usernames)

                await eventually(indexed, "the users' unique index", api.child)
                await sign_up(http, api, "twice")
                again = {"i": {"username": "TWICE", "password": "pw-12345678"}}
                body = (await graphql(http, api, SIGN_UP, again)).json()
                assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
                assert "taken" in body["errors"][0]["message"]


# --- Redis unreachable ------------------------------------------------------------------------


async def test_redis_outage_keeps_reads_and_writes_and_everything_resumes(
    servers: Servers, tmp_path: Path
) -> None:
    """Redis stops: queries are served (uncached), mutations succeed (their events wait in
    the outbox), rate limits fail open, or closed as configured. Redis comes back on its port:
    the worker applies the waiting events, a subscriber opened before the outage gets them,
    the limits and the cache work again, and reconcile finds no drift."""
    with own_redis(tmp_path / "redis", persistent=True) as own:
        overrides = {"outbox_grace_seconds": 0.5, "sweep_interval_seconds": 0.5}
        async with world(servers, redis_url=own.url, **overrides) as w:
            book = w.catalog.book(0)
            limits = {"RATE_LIMIT_ENABLED": "true", "RESPONSE_CACHE": "true"}
            worker = start_worker(w.settings, "outage")
            open_api = start_api(w.settings, RATE_LIMIT_FAIL_OPEN="true", **limits)
            closed_api = start_api(w.settings, RATE_LIMIT_FAIL_OPEN="false", **limits)
            children = (worker, open_api.child, closed_api.child)
            with running(*children):
                async with client() as http, connected(open_api) as ws:
                    alice, bob = await sign_up(http, open_api), await sign_up(http, open_api)
                    await subscribe(ws, "s1", book)
                    await books_hub_listening(w.settings, processes=1)
                    await data(http, open_api, RATE, {"b": book, "s": 3}, alice)
                    pushed = await next_book(ws, "s1", 20)
                    assert pushed["ratingStats"]["count"] == 1
                    assert (await data(http, closed_api, BOOK_PAGE, {"id": book}))["book"]

                    async def cached(count: int) -> bool:
                        response = await graphql(http, open_api, BOOK_PAGE, {"id": book})
                        page = response.json()["data"]["book"]
                        assert page["ratingStats"]["count"] == count, page
                        return response.headers.get("x-cache") == "hit"

                    await eventually(lambda: cached(1), "the response cache to answer", *children)

                    own.stop()
                    assert await readiness(http, open_api) == REDIS_DOWN
                    assert (await http.get(f"{open_api.url}/healthz")).status_code == 200
                    # Fail open: served without limits and without the cache.
                    for _ in range(2):
                        response = await graphql(http, open_api, BOOK_PAGE, {"id": book})
                        assert response.status_code == 200, response.text
                        assert "x-cache" not in response.headers
                        assert not response.json().get("errors"), response.text
                    await data(http, open_api, RATE, {"b": book, "s": 5}, bob)
                    assert await w.outbox() == 1
                    # Persisted queries: a document sent with its hash runs (it cannot be
                    # stored); a hash alone cannot be looked up.
                    digest = hashlib.sha256(TITLE_QUERY.encode()).hexdigest()
                    by_hash = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
                    both = {"query": TITLE_QUERY, "variables": {"id": book}, "extensions": by_hash}
                    response = await http.post(open_api.graphql_url, json=both)
                    assert response.json() == {"data": {"book": {"title": "Book 0"}}}
                    alone = {"variables": {"id": book}, "extensions": by_hash}
                    response = await http.post(open_api.graphql_url, json=alone)
                    [error] = response.json()["errors"]
                    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                    # /metrics answers; what it cannot read from Redis is unknown, not stale.
                    metrics = await http.get(f"{open_api.url}/metrics")
                    assert metrics.status_code == 200
                    group = w.settings.consumer_group
                    assert f'events_lag{{group="{group}"}} NaN' in metrics.text.splitlines()
                    # Fail closed: refused, with a code that blames the service.
                    for query, variables, token in (
                        (BOOK_PAGE, {"id": book}, None),
                        (RATE, {"b": book, "s": 1}, alice),
                    ):
                        refused = await graphql(http, closed_api, query, variables, token)
                        assert refused.status_code == 503, refused.text
                        assert int(refused.headers["retry-after"]) >= 1
                        [error] = refused.json()["errors"]
                        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                        assert "rate limit" in error["message"]
                        for leak in LEAKS:
                            assert leak not in refused.text
                    assert await w.outbox() == 1  # the refused mutation wrote nothing

                    own.start(persistent=True)  # same port, same data
                    # The subscriber hears of the rating made during the outage (after a
                    # refresh push, maybe, showing the figures before the worker caught up).
                    async with asyncio.timeout(30):
                        while pushed["ratingStats"]["count"] != 2:
                            pushed = await next_book(ws, "s1", 30)
                    assert pushed["ratingStats"]["average"] == 4.0

                    async def settled() -> bool:
                        return await w.outbox() == 0 and await readiness(http, open_api) == READY

                    await eventually(settled, "the outbox to drain", *children)
                    assert await w.drift() == []

                    async def limits_back() -> bool:
                        response = await graphql(http, closed_api, BOOK_PAGE, {"id": book})
                        return response.status_code == 200

                    await eventually(limits_back, "the closed API to serve again", *children)

                    await eventually(
                        lambda: cached(2), "the response cache to answer again", *children
                    )


# --- SIGTERM ----------------------------------------------------------------------------------


async def test_sigterm_finishes_requests_refuses_connections_closes_websockets(
    servers: Servers,
) -> None:
    settings = app_settings(servers.mongodb_url, servers.redis_url)
    book = insert_book(settings, "Draining")
    api = start_api(settings)
    with running(api.child):
        port = int(api.url.rsplit(":", 1)[1])
        async with client() as http, connected(api) as ws:
            await subscribe(ws, "s1", book)
            await books_hub_listening(settings, processes=1)

            # A request in flight: headers and half of the body sent, the rest held back.
            body = json.dumps({"query": TITLE_QUERY, "variables": {"id": book}}).encode()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            head = (
                f"POST /graphql HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
            ).encode()
            writer.write(head + body[:10])
            await writer.drain()
            await asyncio.sleep(1.0)  # let the server read the request's head

            api.child.signal(signal.SIGTERM)

            # Open WebSockets are closed with a close frame ("service restart").
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(HTTP_TIMEOUT):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None, "no close frame"
            assert closed.value.rcvd.code in (1001, 1012)

            # New connections are refused while the request in flight is still served.
            async def refused() -> bool:
                try:
                    await http.get(f"{api.url}/healthz")
                except httpx.ConnectError:
                    return True
                return False

            await eventually(refused, "new connections to be refused")
            assert api.child.process.poll() is None  # still draining

            writer.write(body[10:])
            await writer.drain()
            async with asyncio.timeout(HTTP_TIMEOUT):
                raw = await reader.read()  # the server closes the connection after answering
            writer.close()
            status_line, _, rest = raw.partition(b"\r\n")
            assert status_line == b"HTTP/1.1 200 OK", raw
            assert json.loads(rest.partition(b"\r\n\r\n")[2]) == {
                "data": {"book": {"title": "Draining"}}
            }

        code = await asyncio.to_thread(api.child.process.wait, 30)
    assert api.child.process.returncode is not None
    assert code == 0, api.child.output()[-3000:]
