"""Test helpers: a GraphQL-over-HTTP client, the app under test with its own database, and
source documents for tests that insert them directly."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

import httpx
from bson import ObjectId
from redis.asyncio import Redis
from starlette.applications import Starlette

from app.asgi import build_app
from service.documents import new_entry
from service.services import Services
from service.settings import Settings


class GraphQLError(AssertionError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @property
    def code(self) -> str:
        return str(self.errors[0].get("extensions", {}).get("code"))


class GraphQLClient:
    """Posts GraphQL documents over HTTP, the way a single-page app does."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.http.post("/graphql", json=body, headers=all_headers)

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        response = await self.post(query, variables, token)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The `data` of a response that must have no errors."""
        result = await self.execute(query, variables, token)
        if result.get("errors"):
            raise GraphQLError(result["errors"])
        return result["data"]  # type: ignore[no-any-return]

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> GraphQLError:
        """The errors of a response that must fail."""
        result = await self.execute(query, variables, token)
        assert result.get("errors"), f"expected an error, got {result}"
        return GraphQLError(result["errors"])

    async def sign_up(
        self, username: str | None = None, password: str = "correct-horse"
    ) -> tuple[str, str]:
        """A new user's (token, global id)."""
        name = username or f"u{uuid4().hex[:10]}"
        data = await self.data(
            "mutation($i: SignUpInput!) { signUp(input: $i) { token user { id } } }",
            {"i": {"username": name, "password": password}},
        )
        return data["signUp"]["token"], data["signUp"]["user"]["id"]


@dataclass
class AppUnderTest:
    app: Starlette
    settings: Settings
    services: Services
    client: GraphQLClient


def app_settings(
    mongodb_url: str, redis_url: str, db_name: str | None = None, **overrides: Any
) -> Settings:
    db = db_name or f"t_{uuid4().hex[:12]}"
    values: dict[str, Any] = {
        "mongodb_url": mongodb_url,
        "redis_url": redis_url,
        "mongodb_db": db,
        "stream_key": f"events:{db}",
        "redis_prefix": db,
        "rate_limit_enabled": False,
        "json_logs": False,
        "dead_letter_stream": f"events:{db}:dead",
        "stats_channel": f"book-stats:{db}",
        "jwt_secret": "test-secret-" + "x" * 32,
        "mongodb_timeout_ms": 60_000,
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[AppUnderTest]:
    """The ASGI app with its lifespan, reached over HTTP semantics through httpx."""
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield AppUnderTest(app, settings, app.state.services, GraphQLClient(http))


# --- source documents, shaped as service/documents.py, for tests that insert them directly ---


def user_doc(username: str, created_at: datetime, **fields: Any) -> dict[str, Any]:
    """A user with no password (who cannot log in); `fields` replace the defaults."""
    return {
        "_id": ObjectId(),
        "username": username,
        "username_key": username.lower(),
        "display_name": username,
        "password_hash": None,
        "avatar_url": None,
        "bio": None,
        "authored_books_count": 0,
        "created_at": created_at,
        "reviews_count": 0,
        "followers_count": 0,
        "following_count": 0,
        **fields,
    }


def review_doc(
    user_id: ObjectId,
    book_id: ObjectId,
    created_at: datetime,
    *,
    text: str | None = None,
    rating: int | None = None,
    shelf: str | None = "READ",
    likes_count: int = 0,
) -> dict[str, Any]:
    """A user's entry for a book (a review when it has a text), as first written."""
    return dict(
        new_entry(
            user_id,
            book_id,
            created_at,
            shelf=shelf,  # type: ignore[arg-type]
            rating=rating,
            text=text,
            likes_count=likes_count,
        )
    )


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
