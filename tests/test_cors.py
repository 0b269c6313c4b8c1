"""CORS for single-page apps on other origins (Starlette's CORSMiddleware, `CORS_ORIGINS`).

A browser sends a preflight before a cross-origin POST with JSON and a bearer token; only the
origins on the list get the headers that let the page read the answer. Tested through the ASGI
app with the headers a browser sends.
"""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devtools.embedded import Servers
from tests.support.app import AppUnderTest, app_settings, running_app

ALLOWED = "http://localhost:5173"
OTHER_ALLOWED = "http://127.0.0.1:5173"
FOREIGN = "http://evil.example"
QUERY = {"query": "{ __typename }"}


@pytest.fixture
async def cors_app(servers: Servers) -> AsyncIterator[AppUnderTest]:
    settings = app_settings(
        servers.mongodb_url, servers.redis_url, cors_origins=[ALLOWED, OTHER_ALLOWED]
    )
    async with running_app(settings) as running:
        yield running


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, authorization",
    }


async def preflight(app: AppUnderTest, origin: str) -> httpx.Response:
    return await app.client.http.options("/graphql", headers=preflight_headers(origin))


def cors_headers(response: httpx.Response) -> dict[str, Any]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


@pytest.mark.parametrize("origin", [ALLOWED, OTHER_ALLOWED])
async def test_a_preflight_from_a_listed_origin_allows_json_and_a_bearer_token(
    cors_app: AppUnderTest, origin: str
) -> None:
    response = await preflight(cors_app, origin)
    assert response.status_code == 200
    headers = response.headers
    assert headers["access-control-allow-origin"] == origin
    allowed = {h.strip() for h in headers["access-control-allow-headers"].lower().split(",")}
    assert {"content-type", "authorization"} <= allowed
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-max-age"] == "600"
    # Bearer tokens, never cookies: no credentials mode.
    assert "access-control-allow-credentials" not in headers


async def test_a_cross_origin_post_can_read_the_answer_and_its_headers(
    cors_app: AppUnderTest,
) -> None:
    response = await cors_app.client.http.post("/graphql", json=QUERY, headers={"origin": ALLOWED})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}
    assert response.headers["access-control-allow-origin"] == ALLOWED
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"x-request-id", "retry-after"}
    assert response.headers["x-request-id"]


async def test_a_cross_origin_get_can_read_the_answer(cors_app: AppUnderTest) -> None:
    response = await cors_app.client.http.get(
        "/graphql", params=QUERY, headers={"origin": OTHER_ALLOWED}
    )
    assert response.json() == {"data": {"__typename": "Query"}}
    assert response.headers["access-control-allow-origin"] == OTHER_ALLOWED


async def test_an_origin_not_on_the_list_is_not_allowed(cors_app: AppUnderTest) -> None:
    refused = await preflight(cors_app, FOREIGN)
    assert refused.status_code == 400
    # Without Access-Control-Allow-Origin a browser lets the page neither send nor read.
    # (Starlette's middleware still names the methods, headers and exposed headers it would
    # allow: they grant nothing on their own.)
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-credentials" not in refused.headers
    # The request itself runs (CORS is the browser's rule), but the page cannot read it.
    response = await cors_app.client.http.post("/graphql", json=QUERY, headers={"origin": FOREIGN})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_by_default_only_the_same_origin_may_call(app: AppUnderTest) -> None:
    assert app.settings.cors_origins == []
    refused = await preflight(app, ALLOWED)
    assert refused.status_code == 405  # no CORS at all: OPTIONS is not a GraphQL method
    assert cors_headers(refused) == {}
    response = await app.client.http.post("/graphql", json=QUERY, headers={"origin": ALLOWED})
    assert response.json() == {"data": {"__typename": "Query"}}
    assert cors_headers(response) == {}


def test_cors_origins_are_read_as_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import Settings

    monkeypatch.setenv("CORS_ORIGINS", " http://localhost:5173, http://127.0.0.1:5173/ ,")
    assert Settings().cors_origins == ["http://localhost:5173", "http://127.0.0.1:5173"]
    monkeypatch.setenv("CORS_ORIGINS", "")
    assert Settings().cors_origins == []
