"""The API under test in process (its own database and stream names on the session's servers),
reached through a GraphQL-over-HTTP client, the way a single-page app reaches it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
from starlette.applications import Starlette

from app.asgi import build_app
from devtools.demo.loader import DemoSummary
from service.ids import to_global_id
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


@asynccontextmanager
async def http_client(url: str) -> AsyncIterator[GraphQLClient]:
    """A GraphQL client for an API server process at `url`."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        yield GraphQLClient(http)


def media_type(response: httpx.Response) -> str:
    """The response's content type without its parameters."""
    return response.headers.get("content-type", "").split(";")[0].strip()


# The share of the seed page's populations the demo fixtures load (small: mongoeco's inserts
# slow down as a collection grows).
DEMO_TEST_SCALE = 0.005


@dataclass
class DemoApp:
    """The app holding the seed-page demo data (conftest's module-scoped `demo` fixture)."""

    app: AppUnderTest
    summary: DemoSummary

    @property
    def book_id(self) -> str:
        return to_global_id("Book", self.summary.book_id)

    @property
    def author_id(self) -> str:
        return to_global_id("Author", self.summary.author_id)
