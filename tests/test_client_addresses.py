"""Who the client is, as real uvicorn processes (`books serve`) see it: the connection's peer,
unless TRUSTED_PROXIES names the peer as a reverse proxy, whose X-Forwarded-For then names the
client. The address decides the per-address rate limits (signUp and logIn) over HTTP and on
the WebSocket handshake, and is what the access log records.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import websockets

from devtools.embedded import Servers
from tests.support.app import app_settings
from tests.support.processes import ApiServer, running, start_api
from tests.support.websocket import PROTOCOL, receive, ws_url

pytestmark = pytest.mark.slow

LOG_IN = 'mutation { logIn(username: "nobody_here", password: "wrong-password") { token } }'


@contextmanager
def api(servers: Servers, **extra: str) -> Iterator[ApiServer]:
    """An API process allowing 3 log-ins per address and hour (real addresses: all 127.0.0.1)."""
    settings = app_settings(
        servers.mongodb_url, servers.redis_url, rate_limit_enabled=True, rate_limit_auth="3/hour"
    )
    server = start_api(settings, **extra)
    with running(server.child):
        yield server


def log_in(server: ApiServer, forwarded_for: str) -> str:
    """The error code of a failing logIn sent with X-Forwarded-For (RATE_LIMITED or not)."""
    response = httpx.post(
        server.graphql_url,
        json={"query": LOG_IN},
        headers={"x-forwarded-for": forwarded_for},
        timeout=10,
    )
    return str(response.json()["errors"][0]["extensions"]["code"])


async def log_in_over_websocket(server: ApiServer, forwarded_for: str) -> str:
    """The same over graphql-transport-ws, X-Forwarded-For sent on the handshake."""
    async with websockets.connect(
        ws_url(server),
        subprotocols=[PROTOCOL],  # type: ignore[list-item]
        additional_headers={"x-forwarded-for": forwarded_for},
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert (await receive(ws, 10))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": LOG_IN}}))
        message: dict[str, Any] = await receive(ws, 10)
    assert message["type"] == "next", message
    return str(message["payload"]["errors"][0]["extensions"]["code"])


def test_by_default_x_forwarded_for_chooses_no_budget(servers: Servers) -> None:
    with api(servers) as server:
        codes = [log_in(server, f"198.51.100.{i}") for i in range(1, 5)]
        assert codes == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"]
        # The access log names the peer, not what the client claimed.
        output = server.child.output()
        assert "127.0.0.1:" in output and "POST /graphql" in output
        assert "198.51.100." not in output


async def test_by_default_x_forwarded_for_on_the_websocket_handshake_chooses_no_budget(
    servers: Servers,
) -> None:
    with api(servers) as server:
        codes = [await log_in_over_websocket(server, f"198.51.100.{i}") for i in range(1, 5)]
        assert codes == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"]


def test_behind_a_trusted_proxy_x_forwarded_for_names_the_client(servers: Servers) -> None:
    with api(servers, TRUSTED_PROXIES="127.0.0.1") as server:
        codes = [log_in(server, "203.0.113.7") for _ in range(4)]
        assert codes == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"]
        # Another client behind the same proxy has its own budget.
        assert log_in(server, "203.0.113.8") == "UNAUTHENTICATED"
        # A proxy appends the peer it saw: the last address is the one the proxy vouches for.
        assert log_in(server, "10.9.9.9, 203.0.113.7") == "RATE_LIMITED"
        output = server.child.output()
        assert '203.0.113.7:0 - "POST /graphql' in output


async def test_behind_a_trusted_proxy_the_websocket_client_is_the_forwarded_one(
    servers: Servers,
) -> None:
    with api(servers, TRUSTED_PROXIES="127.0.0.0/8") as server:
        codes = [await log_in_over_websocket(server, "203.0.113.7") for _ in range(4)]
        assert codes == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"]
        assert await log_in_over_websocket(server, "203.0.113.8") == "UNAUTHENTICATED"


def test_a_proxy_not_listed_is_not_believed(servers: Servers) -> None:
    with api(servers, TRUSTED_PROXIES="10.0.0.0/8") as server:
        codes = [log_in(server, f"203.0.113.{i}") for i in range(1, 5)]
        assert codes == ["UNAUTHENTICATED"] * 3 + ["RATE_LIMITED"]
