"""The bounds on connections and messages, against real API processes (`books serve`):

- WebSocket: a message over MAX_BODY_BYTES (the HTTP body limit) closes the socket with 1009;
  every operation counts against the READ rate limit, and a rate-limit refusal (READ, or a
  sign-in over AUTH) is a GraphQL error with RATE_LIMITED, the connection staying usable;
- HTTP: a head over MAX_HEADER_BYTES is answered 431, a request not received whole within
  REQUEST_TIMEOUT_SECONDS 408 (slow clients), more than MAX_CONNECTIONS connections 503, and an
  idle keep-alive connection is closed after KEEP_ALIVE_SECONDS;
- a client that goes away mid-request is logged at INFO, without a traceback.
"""

import base64
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from devtools.embedded import Servers
from tests.support.app import app_settings
from tests.support.processes import ApiServer, running, start_api
from tests.support.websocket import PROTOCOL, receive, ws_url

pytestmark = pytest.mark.slow

LOG_IN = 'mutation { logIn(username: "nobody_here", password: "wrong-password") { token } }'
SIGN_UP = 'mutation { signUp(input: {username: "%s", password: "long-enough"}) { token } }'
BODY_LIMIT = 262_144


@contextmanager
def api(servers: Servers, **extra: str) -> Iterator[ApiServer]:
    settings = app_settings(servers.mongodb_url, servers.redis_url, rate_limit_enabled=True)
    server = start_api(settings, **extra)
    with running(server.child):
        yield server


@asynccontextmanager
async def connected(server: ApiServer) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection, acknowledged (no client-side size limit)."""
    async with websockets.connect(
        ws_url(server),
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        max_size=None,
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert (await receive(ws, 10))["type"] == "connection_ack"
        yield ws


async def operation(ws: ClientConnection, op_id: str, query: str) -> dict[str, Any]:
    """The first answer to one operation (`next` or `error`), its `complete` read after a next."""
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query}}))
    message: dict[str, Any] = await receive(ws, 10)
    if message["type"] == "next":
        assert (await receive(ws, 10)) == {"id": op_id, "type": "complete"}
    return message


def error_codes(message: dict[str, Any]) -> list[str]:
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    return [e["extensions"]["code"] for e in errors]


# --- WebSocket --------------------------------------------------------------------------------


async def test_a_sign_in_over_the_limit_on_one_connection_answers_rate_limited(
    servers: Servers,
) -> None:
    with api(servers, RATE_LIMIT_AUTH="3/hour") as server:
        async with connected(server) as ws:
            for i in range(3):
                signed_up = await operation(ws, str(i), SIGN_UP % f"ws_reader_{i}")
                assert signed_up["payload"]["data"]["signUp"]["token"], signed_up
            refused = await operation(ws, "3", SIGN_UP % "ws_reader_3")
            assert refused["type"] == "next" and refused["payload"]["data"] is None, refused
            assert error_codes(refused) == ["RATE_LIMITED"]
            assert refused["payload"]["errors"][0]["extensions"]["retryAfter"] >= 1
            assert error_codes(await operation(ws, "4", LOG_IN)) == ["RATE_LIMITED"]
            # The connection goes on serving.
            typename = await operation(ws, "9", "{ __typename }")
            assert typename["payload"] == {"data": {"__typename": "Query"}}
        assert "Traceback" not in server.child.output()


async def test_a_forged_cursor_over_websocket_is_bad_user_input(servers: Servers) -> None:
    # Of the books list's shape, with an id no BSON integer holds (it reached MongoDB: a 500).
    forged = base64.urlsafe_b64encode(orjson.dumps(["books:id", [2**63]])).decode()
    with api(servers) as server:
        async with connected(server) as ws:
            answer = await operation(ws, "1", f'{{ books(after: "{forged}") {{ totalCount }} }}')
            assert error_codes(answer) == ["BAD_USER_INPUT"]
        assert "Traceback" not in server.child.output()


async def test_operations_over_websocket_count_against_the_read_limit(servers: Servers) -> None:
    with api(servers, RATE_LIMIT_READ="4/hour") as server:
        async with connected(server) as ws:
            for i in range(4):
                answer = await operation(ws, str(i), "{ __typename }")
                assert answer["type"] == "next", answer
            refused = await operation(ws, "5", "{ __typename }")
            assert refused["type"] == "error"
            assert error_codes(refused) == ["RATE_LIMITED"]
        # The same budget as HTTP requests from the address.
        response = httpx.post(server.graphql_url, json={"query": "{ __typename }"}, timeout=10)
        assert response.status_code == 429


async def test_a_websocket_message_over_the_body_limit_closes_with_1009(servers: Servers) -> None:
    with api(servers) as server:
        async with connected(server) as ws:
            # Just under the limit: answered (by a refusal of the document, not of its size).
            padding = " " * (BODY_LIMIT - 1000)
            answer = await operation(ws, "1", "{ __typename }" + padding)
            assert answer["type"] == "next", answer
            padding = " " * (BODY_LIMIT + 1)
            await ws.send(
                json.dumps({"id": "2", "type": "subscribe", "payload": {"query": padding}})
            )
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws, 10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009


# --- HTTP -------------------------------------------------------------------------------------


def raw_connection(server: ApiServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_response(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def test_a_head_over_max_header_bytes_is_431(servers: Servers) -> None:
    with api(servers, MAX_HEADER_BYTES="4096") as server:
        fits = httpx.get(f"{server.url}/healthz", headers={"x-pad": "a" * 3000}, timeout=10)
        assert fits.status_code == 200
        # Whole, in one write.
        big = httpx.get(f"{server.url}/healthz", headers={"x-pad": "a" * 5000}, timeout=10)
        assert big.status_code == 431
        # Trickling in, never completed: refused once more than the limit arrived.
        with raw_connection(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            for _ in range(5):  # 5 KB: the server answers after reading the last piece
                sock.sendall(b"x-pad: " + b"a" * 1000 + b"\r\n")
                time.sleep(0.05)
            assert status_of(read_response(sock)) == 431
        # A WebSocket handshake is a request like any other.
        with raw_connection(server) as sock:
            sock.sendall(
                b"GET /graphql HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
                b"sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"x-pad: " + b"a" * 5000 + b"\r\n\r\n"
            )
            assert status_of(read_response(sock)) == 431
        assert "Traceback" not in server.child.output()


def test_a_request_not_received_in_time_is_408(servers: Servers) -> None:
    with api(servers, REQUEST_TIMEOUT_SECONDS="1") as server:
        # Half a head, then nothing.
        with raw_connection(server) as sock:
            sock.sendall(b"POST /graphql HTTP/1.1\r\nhost: x\r\n")
            assert status_of(read_response(sock)) == 408
        # A whole head, half a body.
        with raw_connection(server) as sock:
            sock.sendall(
                b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b'content-length: 100\r\n\r\n{"query":'
            )
            assert status_of(read_response(sock)) == 408
        # Connected, nothing sent.
        with raw_connection(server) as sock:
            assert status_of(read_response(sock)) == 408
        # A request sent in time is served, however long it then takes to answer.
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        assert "Traceback" not in server.child.output()


def test_connections_over_max_connections_are_answered_503(servers: Servers) -> None:
    with api(servers, MAX_CONNECTIONS="3") as server:
        held = [raw_connection(server) for _ in range(3)]
        try:
            time.sleep(0.5)  # let the server accept them
            refused = httpx.get(f"{server.url}/healthz", timeout=10)
            assert refused.status_code == 503
        finally:
            for sock in held:
                sock.close()
        for _ in range(50):
            if httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the API kept refusing after the connections were closed")


def test_an_idle_keep_alive_connection_is_closed(servers: Servers) -> None:
    with api(servers, KEEP_ALIVE_SECONDS="1") as server, raw_connection(server) as sock:
        sock.settimeout(4)  # well under uvicorn's own default of 5 s
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        response = read_response(sock)  # ends when the server closes the connection
        assert status_of(response) == 200


def test_a_client_going_away_mid_request_is_logged_at_info_without_traceback(
    servers: Servers,
) -> None:
    with api(servers, JSON_LOGS="true") as server:
        for _ in range(3):
            with raw_connection(server) as sock:
                sock.sendall(
                    b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                    b'content-length: 1000\r\n\r\n{"query":'
                )
                time.sleep(0.2)
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        time.sleep(0.5)
        lines = [json.loads(line) for line in server.child.output().splitlines() if line[:1] == "{"]
        gone = [line for line in lines if "disconnected" in line["message"]]
        assert len(gone) == 3, lines
        assert {line["level"] for line in gone} == {"INFO"}
        assert all("exception" not in line for line in lines)
        assert not [line for line in lines if line["level"] == "ERROR"]
