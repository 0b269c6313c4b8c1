"""A graphql-transport-ws client for `bookStatsChanged`, against an API server process, and
waiting until API processes' stats hubs listen on the channel."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection

from service.settings import Settings
from tests.support.processes import ApiServer

PROTOCOL = "graphql-transport-ws"
SUBSCRIPTION = """
subscription Stats($id: ID!) {
  bookStatsChanged(bookId: $id) {
    id
    title
    ratingStats { count average histogram { stars count } }
    shelfCounts { wantToRead currentlyReading read }
    reviewsCount
  }
}
"""


def ws_url(api: ApiServer) -> str:
    return api.graphql_url.replace("http://", "ws://", 1)


@asynccontextmanager
async def connected(api: ApiServer) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection, initialised and acknowledged."""
    async with websockets.connect(ws_url(api), subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == PROTOCOL
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = await receive(ws, 10)
        assert ack["type"] == "connection_ack", ack
        yield ws


async def receive(ws: ClientConnection, timeout: float) -> dict[str, Any]:
    message = await asyncio.wait_for(ws.recv(), timeout)
    return json.loads(message)  # type: ignore[no-any-return]


async def subscribe(ws: ClientConnection, op_id: str, book_id: str) -> None:
    payload = {"query": SUBSCRIPTION, "variables": {"id": book_id}}
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


async def next_book(ws: ClientConnection, op_id: str, timeout: float) -> dict[str, Any]:
    """The Book of the next `next` message for `op_id` (pings are answered, others fail)."""
    while True:
        message = await receive(ws, timeout)
        if message["type"] == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        assert message.get("id") == op_id and message["type"] == "next", message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]["bookStatsChanged"]  # type: ignore[no-any-return]


async def books_hub_listening(settings: Settings, processes: int) -> None:
    """Wait until `processes` API processes' stats hubs are subscribed to the channel.

    A hub subscribes when its process gets its first subscriber, after registering that
    subscriber; graphql-transport-ws has no "subscribed" acknowledgement to wait for instead.
    """
    redis = Redis.from_url(settings.redis_url or "")
    try:
        async with asyncio.timeout(15):
            while True:
                [(_, count)] = await redis.pubsub_numsub(settings.stats_channel)
                if count >= processes:
                    return
                await asyncio.sleep(0.05)
    finally:
        await redis.aclose()
