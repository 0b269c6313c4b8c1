"""Subscription.bookStatsChanged(bookId) over graphql-transport-ws on /graphql.

After the worker writes a book's new figures it publishes the book id on Redis pub/sub, and
every API process pushes the new Book (ratingStats, shelfCounts, reviewsCount) to its own
subscribers. Tested end to end with real processes: two uvicorn API servers and one worker on
a database of the module's own, a WebSocket client (the `websockets` library) subscribed to
API "B" (and to "A"), and the rating sent over HTTP to API "A".
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest
import websockets
from bson import ObjectId
from pymongo import MongoClient
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from devtools.embedded import Servers
from service.ids import to_global_id
from service.settings import Settings
from service.stats_hub import StatsHub
from tests.support.app import app_settings
from tests.support.processes import ApiServer, running, start_api, start_worker
from tests.support.websocket import (
    SUBSCRIPTION,
    books_hub_listening,
    connected,
    next_book,
    receive,
    subscribe,
    ws_url,
)

PUSH_TIMEOUT = 20.0  # generous: the worker blocks up to WORKER_BLOCK_MS between reads


@dataclass
class Cluster:
    settings: Settings
    api_a: ApiServer
    api_b: ApiServer
    book: str  # global ids
    other_book: str
    authored_book: str  # has an author, for pushes that select more than the figures
    author: str


@pytest.fixture(scope="module")
def cluster(servers: Servers) -> Iterator[Cluster]:
    """Two API processes and one worker on one fresh database holding two books."""
    settings = app_settings(servers.mongodb_url, servers.redis_url, worker_block_ms=200)
    book, other, authored, author = ObjectId(), ObjectId(), ObjectId(), ObjectId()
    with MongoClient(servers.mongodb_url) as mongo:
        db = mongo[settings.mongodb_db]
        db.authors.insert_one({"_id": author, "name": "Writer", "followers_count": 0})
        db.books.insert_many(
            [
                {"_id": book, "title": "Pushed", "genres": [], "author_ids": []},
                {"_id": other, "title": "Quiet", "genres": [], "author_ids": []},
                {"_id": authored, "title": "Authored", "genres": [], "author_ids": [author]},
            ]
        )
    worker = start_worker(settings, "subscriptions")
    with ThreadPoolExecutor(2) as pool:
        starting = [pool.submit(start_api, settings) for _ in range(2)]
        wait(starting)
    started = [f.result() for f in starting if f.exception() is None]
    with running(worker, *(api.child for api in started)):
        for future in starting:
            if future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        yield Cluster(
            settings,
            started[0],
            started[1],
            to_global_id("Book", book),
            to_global_id("Book", other),
            to_global_id("Book", authored),
            to_global_id("Author", author),
        )


class Http:
    """GraphQL over HTTP to one API process."""

    def __init__(self, client: httpx.AsyncClient, api: ApiServer) -> None:
        self.client, self.api = client, api

    async def data(self, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            self.api.graphql_url, json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body
        return body["data"]

    async def sign_up(self) -> str:
        name = f"s{uuid4().hex[:16]}"
        data = await self.data(
            "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
            {"i": {"username": name, "password": "correct-horse-battery"}},
        )
        return str(data["signUp"]["token"])

    async def rate(self, token: str, book: str, stars: int) -> None:
        await self.data(
            "mutation($b: ID!, $s: Int!) { rateBook(bookId: $b, stars: $s) { id } }",
            {"b": book, "s": stars},
            token,
        )


@pytest.mark.slow
async def test_a_rating_through_one_api_is_pushed_by_the_other(cluster: Cluster) -> None:
    async with (
        httpx.AsyncClient(timeout=30) as client,
        connected(cluster.api_b) as on_b,
        connected(cluster.api_a) as on_a,
    ):
        await subscribe(on_b, "b1", cluster.book)
        await subscribe(on_b, "b2", cluster.other_book)
        await subscribe(on_a, "a1", cluster.book)
        await books_hub_listening(cluster.settings, processes=2)

        api_a = Http(client, cluster.api_a)
        first, second = await api_a.sign_up(), await api_a.sign_up()
        await api_a.rate(first, cluster.book, 4)

        pushed = await next_book(on_b, "b1", PUSH_TIMEOUT)
        assert pushed["id"] == cluster.book
        assert pushed["title"] == "Pushed"
        assert pushed["ratingStats"]["count"] == 1
        assert pushed["ratingStats"]["average"] == 4.0
        assert {b["stars"]: b["count"] for b in pushed["ratingStats"]["histogram"]}[4] == 1
        assert pushed["shelfCounts"] == {"wantToRead": 0, "currentlyReading": 0, "read": 1}
        assert pushed["reviewsCount"] == 0
        # The process the rating went through pushes to its own subscribers too.
        assert (await next_book(on_a, "a1", PUSH_TIMEOUT))["ratingStats"]["count"] == 1

        # Every later change is pushed as well, with the figures of that change.
        await api_a.rate(second, cluster.book, 2)
        pushed = await next_book(on_b, "b1", PUSH_TIMEOUT)
        assert pushed["ratingStats"]["count"] == 2
        assert pushed["ratingStats"]["average"] == 3.0

        # A subscriber to another book heard nothing of it.
        with pytest.raises(TimeoutError):
            await next_book(on_b, "b2", 0.5)


@pytest.mark.slow
async def test_completing_a_subscription_stops_its_pushes(cluster: Cluster) -> None:
    async with httpx.AsyncClient(timeout=30) as client, connected(cluster.api_b) as ws:
        await subscribe(ws, "s1", cluster.other_book)
        await subscribe(ws, "s2", cluster.other_book)
        await books_hub_listening(cluster.settings, processes=1)
        api_a = Http(client, cluster.api_a)
        token = await api_a.sign_up()
        await ws.send(json.dumps({"id": "s1", "type": "complete"}))
        await asyncio.sleep(0.2)  # let the server close s1 before the change is pushed
        await api_a.rate(token, cluster.other_book, 5)
        pushed = await next_book(ws, "s2", PUSH_TIMEOUT)  # fails on any message for s1
        assert pushed["ratingStats"]["count"] == 1
        with pytest.raises(TimeoutError):
            await receive(ws, 0.5)


@pytest.mark.slow
async def test_the_legacy_graphql_ws_protocol_is_refused(cluster: Cluster) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        async with websockets.connect(ws_url(cluster.api_b), subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol is None
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await ws.send(
                json.dumps({"id": "1", "type": "start", "payload": {"query": SUBSCRIPTION}})
            )
            await receive(ws, 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406  # "Subprotocol not acceptable"


@pytest.mark.slow
async def test_a_connection_without_a_subprotocol_is_refused(cluster: Cluster) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        async with websockets.connect(ws_url(cluster.api_b)) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await receive(ws, 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406


async def subscription_error(cluster: Cluster, book_id: str) -> dict[str, Any]:
    async with connected(cluster.api_b) as ws:
        await subscribe(ws, "e1", book_id)
        message = await receive(ws, 10)
        # An execution error of a subscription comes as `next` with errors, then `complete`.
        assert message["id"] == "e1" and message["type"] == "next", message
        assert message["payload"]["data"] is None
        [error] = message["payload"]["errors"]
        assert await receive(ws, 10) == {"id": "e1", "type": "complete"}
        return error  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.parametrize(
    "book_id",
    [
        "not-an-id",
        to_global_id("Author", ObjectId("0" * 24)),  # a valid id of another type
        "Qm9vazp6eno",  # "Book:zzz"
    ],
)
async def test_a_malformed_book_id_is_bad_user_input(cluster: Cluster, book_id: str) -> None:
    error = await subscription_error(cluster, book_id)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "bookId"
    assert "valid Book id" in error["message"]


@pytest.mark.slow
async def test_a_missing_book_is_not_found(cluster: Cluster) -> None:
    error = await subscription_error(cluster, to_global_id("Book", ObjectId()))
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "bookId"}
    assert error["message"] == "no book has this id"


@pytest.mark.slow
async def test_an_invalid_subscription_document_gets_an_error_message(cluster: Cluster) -> None:
    """A document that fails validation is refused with graphql-transport-ws's `error`."""
    async with connected(cluster.api_b) as ws:
        query = "subscription($id: ID!) { bookStatsChanged(bookId: $id) { noSuchField } }"
        await ws.send(
            json.dumps(
                {
                    "id": "v1",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": {"id": cluster.book}},
                }
            )
        )
        message = await receive(ws, 10)
    assert message["id"] == "v1" and message["type"] == "error", message
    [error] = message["payload"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.slow
async def test_each_push_reads_fresh_related_data(cluster: Cluster) -> None:
    """A WebSocket connection keeps one context: its DataLoaders must not serve the authors
    cached at the first push to every later one."""
    query = (
        "subscription($id: ID!) { bookStatsChanged(bookId: $id)"
        " { ratingStats { count } authors { name followersCount } } }"
    )
    async with httpx.AsyncClient(timeout=30) as client, connected(cluster.api_b) as ws:
        await ws.send(
            json.dumps(
                {
                    "id": "f1",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": {"id": cluster.authored_book}},
                }
            )
        )
        await books_hub_listening(cluster.settings, processes=1)
        api_a = Http(client, cluster.api_a)
        first, second = await api_a.sign_up(), await api_a.sign_up()
        await api_a.rate(first, cluster.authored_book, 3)
        pushed = await next_book(ws, "f1", PUSH_TIMEOUT)
        assert pushed["ratingStats"]["count"] == 1
        assert pushed["authors"] == [{"name": "Writer", "followersCount": 0}]

        await api_a.data(
            "mutation($a: ID!) { followAuthor(authorId: $a) { id } }", {"a": cluster.author}, first
        )
        async with asyncio.timeout(PUSH_TIMEOUT):  # the worker counts the follower
            while True:
                data = await api_a.data(
                    "query($a: ID!) { author(id: $a) { followersCount } }", {"a": cluster.author}
                )
                if data["author"]["followersCount"] == 1:
                    break
                await asyncio.sleep(0.05)
        await api_a.rate(second, cluster.authored_book, 5)
        pushed = await next_book(ws, "f1", PUSH_TIMEOUT)
        assert pushed["ratingStats"]["count"] == 2
        assert pushed["authors"] == [{"name": "Writer", "followersCount": 1}]


# --- the stats hub of one process, in process ------------------------------------------------


@asynccontextmanager
async def hub_on(
    servers: Servers, **redis_options: Any
) -> AsyncIterator[tuple[StatsHub, Redis, str]]:
    """A StatsHub on a channel of its own, its Redis client named so that CLIENT LIST finds it."""
    name = f"hub-{uuid4().hex[:8]}"
    redis = Redis.from_url(servers.redis_url, client_name=name, **redis_options)
    hub = StatsHub(redis, f"book-stats:{name}")
    try:
        yield hub, redis, name
    finally:
        await hub.close()
        await redis.aclose()


async def next_notice(queue: "asyncio.Queue[str]", timeout: float = 5) -> str:
    return await asyncio.wait_for(queue.get(), timeout)


async def test_the_hub_refreshes_its_subscribers_after_losing_redis(servers: Servers) -> None:
    """Notices published while the pub/sub connection was down are lost: once resubscribed,
    the hub notifies every subscriber, which re-reads its figures."""
    async with hub_on(servers) as (hub, redis, name), hub.subscribe("b1") as queue:
        await redis.publish(hub.channel, "b1")
        assert await next_notice(queue) == "b1"

        [connection] = [
            c for c in await redis.client_list() if c["name"] == name and c["sub"] != "0"
        ]
        await redis.client_kill_filter(_id=connection["id"])
        async with asyncio.timeout(10):  # the hub notices, waits a second and resubscribes
            while hub._subscribed.is_set():
                await asyncio.sleep(0.01)
        assert await next_notice(queue) == "b1"  # the refresh, though nothing was published

        await redis.publish(hub.channel, "b1")  # and notices flow again
        assert await next_notice(queue) == "b1"
        assert queue.empty()


async def test_an_idle_hub_keeps_its_subscription(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """No notice for longer than the socket timeout is not a lost connection."""
    async with hub_on(servers, socket_timeout=0.3) as (hub, redis, _), hub.subscribe("b2") as queue:
        with caplog.at_level(logging.WARNING, logger="service.stats_hub"):
            await asyncio.sleep(1.0)
            await redis.publish(hub.channel, "b2")
            assert await next_notice(queue, 2) == "b2"
        assert not [r for r in caplog.records if "lost redis" in r.getMessage()]
