"""GraphQL over WebSocket as browsers and the standard clients use it (graphql-transport-ws):

text frames only, the viewer from `connection_init`'s payload (a browser cannot set headers on
a WebSocket), 4403 for a bad token, and the same origin list as CORS. Real API and worker
processes on a database of the module's own; the client is the `websockets` library.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import websockets
from bson import ObjectId
from pymongo import MongoClient
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.asgi import WEB_MANIFEST
from devtools.embedded import Servers
from service import auth
from service.ids import to_global_id
from service.settings import Settings
from tests.support.app import app_settings
from tests.support.processes import ApiServer, running, start_api, start_worker
from tests.support.websocket import books_hub_listening

pytestmark = pytest.mark.slow

PROTOCOL = "graphql-transport-ws"
ALLOWED = "http://localhost:5173"
PUSH_TIMEOUT = 20.0


@dataclass
class Api:
    settings: Settings
    server: ApiServer
    book: str

    @property
    def ws_url(self) -> str:
        return self.server.graphql_url.replace("http://", "ws://", 1)

    def post(self, query: str, variables: dict[str, Any] | None = None, token: str = "") -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        body = {"query": query, "variables": variables or {}}
        response = httpx.post(self.server.graphql_url, json=body, headers=headers, timeout=10)
        result = response.json()
        assert "errors" not in result, result
        return result["data"]

    def sign_up(self, username: str) -> str:
        data = self.post(
            "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
            {"i": {"username": username, "password": "correct-horse"}},
        )
        return str(data["signUp"]["token"])


@pytest.fixture(scope="module")
def api(servers: Servers) -> Iterator[Api]:
    settings = app_settings(
        servers.mongodb_url, servers.redis_url, worker_block_ms=200, cors_origins=[ALLOWED]
    )
    book = ObjectId()
    with MongoClient(servers.mongodb_url) as mongo:
        mongo[settings.mongodb_db].books.insert_one(
            {"_id": book, "title": "Live", "genres": [], "author_ids": []}
        )
    worker = start_worker(settings, "websocket")
    server = start_api(settings)
    with running(worker, server.child):
        yield Api(settings, server, to_global_id("Book", book))


@asynccontextmanager
async def connection(
    api: Api, payload: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection after connection_init (acknowledged or not)."""
    extra = dict(headers or {})
    origin = extra.pop("origin", None)
    async with websockets.connect(
        api.ws_url,
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        additional_headers=extra,
        origin=origin,  # type: ignore[arg-type]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        yield ws


async def text_message(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(frame, str), f"a binary frame: {frame!r}"
    return json.loads(frame)  # type: ignore[no-any-return]


async def run(ws: ClientConnection, op_id: str, query: str, variables: dict[str, Any]) -> Any:
    """One query over the socket: its data (the `next`), then its `complete`."""
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
    result = await text_message(ws)
    assert result["type"] == "next", result
    assert (await text_message(ws)) == {"id": op_id, "type": "complete"}
    return result["payload"]


VIEWER = "{ viewer { username } }"


async def test_every_message_is_a_text_frame(api: Api) -> None:
    async with connection(api) as ws:
        assert ws.subprotocol == PROTOCOL
        assert (await text_message(ws))["type"] == "connection_ack"
        assert await run(ws, "1", "{ __typename }", {}) == {"data": {"__typename": "Query"}}


async def test_the_viewer_comes_from_the_connection_init_payload(api: Api) -> None:
    token = api.sign_up("ws_payload")
    async with connection(api, {"authorization": f"Bearer {token}"}) as ws:
        assert (await text_message(ws))["type"] == "connection_ack"
        assert await run(ws, "1", VIEWER, {}) == {"data": {"viewer": {"username": "ws_payload"}}}
    async with connection(api) as anonymous:
        await text_message(anonymous)
        assert await run(anonymous, "1", VIEWER, {}) == {"data": {"viewer": None}}
    # The key in any case, as clients copy the HTTP header's name.
    async with connection(api, {"Authorization": f"Bearer {token}"}) as capitalised:
        assert (await text_message(capitalised))["type"] == "connection_ack"
        assert await run(capitalised, "1", VIEWER, {}) == {
            "data": {"viewer": {"username": "ws_payload"}}
        }
    # An empty value, as clients send when logged out, is anonymous too.
    async with connection(api, {"authorization": ""}) as logged_out:
        assert (await text_message(logged_out))["type"] == "connection_ack"
        assert await run(logged_out, "1", VIEWER, {}) == {"data": {"viewer": None}}


async def test_the_upgrade_header_serves_when_the_payload_names_no_viewer(api: Api) -> None:
    header_token = api.sign_up("ws_header")
    payload_token = api.sign_up("ws_both")
    headers = {"authorization": f"Bearer {header_token}"}
    async with connection(api, headers=headers) as ws:
        await text_message(ws)
        assert await run(ws, "1", VIEWER, {}) == {"data": {"viewer": {"username": "ws_header"}}}
    async with connection(api, {"authorization": f"Bearer {payload_token}"}, headers) as both:
        await text_message(both)
        assert await run(both, "1", VIEWER, {}) == {"data": {"viewer": {"username": "ws_both"}}}


@pytest.mark.parametrize("kind", ["garbage", "expired", "foreign-secret", "not-bearer", "number"])
async def test_a_bad_token_in_the_payload_closes_with_4403(api: Api, kind: str) -> None:
    user = ObjectId()
    authorization: Any = {
        "garbage": "Bearer not.a.token",
        "expired": f"Bearer {auth.issue_token(user, api.settings.jwt_secret or '', -10)}",
        "foreign-secret": f"Bearer {auth.issue_token(user, 'another-secret-' * 4, 3600)}",
        "not-bearer": f"Basic {auth.issue_token(user, api.settings.jwt_secret or '', 3600)}",
        "number": 42,
    }[kind]
    for key in ("authorization", "Authorization"):
        async with connection(api, {key: authorization}) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await text_message(ws)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "Forbidden"), key


async def test_only_listed_origins_and_non_browsers_may_connect(api: Api) -> None:
    for headers in ({"origin": ALLOWED}, {"origin": api.server.url}, None):
        async with connection(api, headers=headers) as ws:
            assert (await text_message(ws))["type"] == "connection_ack", headers
    with pytest.raises(InvalidStatus) as refused:
        async with connection(api, headers={"origin": "http://evil.example"}):
            pass
    assert refused.value.response.status_code == 403


async def test_a_subscription_pushes_the_payload_viewers_own_review(api: Api) -> None:
    reader = api.sign_up("ws_reader")
    other = api.sign_up("ws_other")
    rate = "mutation($b: ID!, $s: Int!) { rateBook(bookId: $b, stars: $s) { rating } }"
    api.post(rate, {"b": api.book, "s": 4}, reader)
    subscription = """subscription($b: ID!) {
      bookStatsChanged(bookId: $b) { ratingStats { count } viewerReview { rating } } }"""
    async with connection(api, {"authorization": f"Bearer {reader}"}) as ws:
        await text_message(ws)
        payload = {"query": subscription, "variables": {"b": api.book}}
        await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": payload}))
        await books_hub_listening(api.settings, 1)
        api.post(rate, {"b": api.book, "s": 2}, other)
        while True:
            pushed = await text_message(ws, PUSH_TIMEOUT)
            assert pushed["type"] == "next", pushed
            book = pushed["payload"]["data"]["bookStatsChanged"]
            if book["ratingStats"]["count"] == 2:
                break
        assert book["viewerReview"] == {"rating": 4}


async def test_with_trusted_documents_only_registered_texts_run_over_websocket(
    servers: Servers,
) -> None:
    """PERSISTED_QUERIES_ONLY holds over WebSocket too: the SPA's registered subscription runs,
    any other document is refused as over HTTP."""
    settings = app_settings(
        servers.mongodb_url, servers.redis_url, persisted_queries_only=True, worker_block_ms=200
    )
    registered = json.loads(WEB_MANIFEST.read_text())
    subscription = next(d for d in registered.values() if "subscription BookStatsChanged" in d)
    book = ObjectId()
    with MongoClient(servers.mongodb_url) as mongo:
        mongo[settings.mongodb_db].books.insert_one(
            {"_id": book, "title": "Trusted", "genres": [], "author_ids": []}
        )
    server = start_api(settings)
    with running(server.child):
        api = Api(settings, server, to_global_id("Book", book))
        async with connection(api) as ws:
            assert (await text_message(ws))["type"] == "connection_ack"
            # A query, and the registered subscription in other words (a space more).
            for op_id, query in (("1", "{ __typename }"), ("3", " " + subscription)):
                payload = {"query": query, "variables": {"bookId": api.book}}
                await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))
                refused = await text_message(ws)
                assert refused["type"] == "error", refused
                assert refused["id"] == op_id
                codes = [e["extensions"]["code"] for e in refused["payload"]]
                assert codes == ["PERSISTED_QUERY_NOT_FOUND"]
            # The registered subscription is accepted: no error before it waits for a push.
            payload = {"query": subscription, "variables": {"bookId": api.book}}
            await ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": payload}))
            await books_hub_listening(settings, 1)
            with pytest.raises(TimeoutError):
                await text_message(ws, timeout=1)
