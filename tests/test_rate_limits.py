"""Rate limits kept in Redis, through GraphQL over HTTP on the real app.

signUp/logIn count per client address (the AUTH bucket), other mutations per viewer (WRITE),
every HTTP request per viewer or address (READ). A refusal is RATE_LIMITED with
extensions.retryAfter and a Retry-After header, and comes before execution (nothing written).
The counts live in Redis, so two API processes sharing it share the limits. When Redis cannot
be reached the policy decides: fail open (serve without limits) or closed (503).

Limits are given per hour so that a run never straddles enough of a window to matter.
"""

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from devtools.embedded import Servers
from service.settings import Settings
from tests.support.app import AppUnderTest, GraphQLClient, app_settings, running_app
from tests.support.documents import gid, insert_book, quick_user
from tests.support.operations import RATE
from tests.support.snapshots import snapshot

LOG_IN = 'mutation { logIn(username: "nobody_here", password: "wrong-password") { token } }'
SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { token } }"
GRAPHQL_RESPONSE = "application/graphql-response+json"


def limited(servers: Servers, **overrides: Any) -> Settings:
    values = {
        "rate_limit_enabled": True,
        "rate_limit_auth": "3/hour",
        "rate_limit_write": "100/hour",
        "rate_limit_read": "1000/hour",
        **overrides,
    }
    return app_settings(servers.mongodb_url, servers.redis_url, **values)


@asynccontextmanager
async def client_at(app: AppUnderTest, address: str) -> AsyncIterator[GraphQLClient]:
    """Another HTTP client of the same app, connecting from `address`."""
    transport = httpx.ASGITransport(app=app.app, client=(address, 40_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


def assert_rate_limited(response: httpx.Response, window_seconds: int = 3600) -> int:
    """A refusal before execution: 429, RATE_LIMITED, retryAfter matching Retry-After."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body.get("data") is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert "path" not in error  # nothing was executed
    retry_after = int(error["extensions"]["retryAfter"])
    assert 1 <= retry_after <= window_seconds
    assert response.headers["retry-after"] == str(retry_after)
    return retry_after


def assert_not_limited(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert all(e["extensions"]["code"] != "RATE_LIMITED" for e in body.get("errors", []))
    return body


def test_reads_are_looser_than_writes_which_are_looser_than_sign_in() -> None:
    from limits import parse

    defaults = Settings()
    per_second = [
        parse(value).amount / parse(value).get_expiry()
        for value in (defaults.rate_limit_auth, defaults.rate_limit_write, defaults.rate_limit_read)
    ]
    assert per_second == sorted(per_second)
    assert len(set(per_second)) == 3
    assert defaults.rate_limit_enabled
    assert defaults.rate_limit_fail_open


# --- signUp and logIn, per client address ---------------------------------------------------


async def test_the_fourth_log_in_from_one_address_is_refused(servers: Servers) -> None:
    async with running_app(limited(servers)) as app:
        for _ in range(3):
            body = assert_not_limited(await app.client.post(LOG_IN))
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert_rate_limited(await app.client.post(LOG_IN))
        # graphql-response+json keeps the 429 (it is not a request error of the client's).
        response = await app.client.post(LOG_IN, headers={"accept": GRAPHQL_RESPONSE})
        assert_rate_limited(response)
        # Another address has its own budget.
        async with client_at(app, "10.0.0.2") as other:
            assert_not_limited(await other.post(LOG_IN))


async def test_a_refused_sign_up_creates_no_user(servers: Servers) -> None:
    async with running_app(limited(servers)) as app:
        for i in range(3):
            variables = {"i": {"username": f"reader_{i}", "password": "long-enough"}}
            assert (await app.client.data(SIGN_UP, variables))["signUp"]["token"]
        before = await snapshot(app)
        variables = {"i": {"username": "reader_4", "password": "long-enough"}}
        assert_rate_limited(await app.client.post(SIGN_UP, variables))
        assert await snapshot(app) == before
        assert await app.services.store.users.count_documents({"username": "reader_4"}) == 0


async def test_a_token_does_not_open_a_new_sign_in_budget(servers: Servers) -> None:
    # signUp/logIn count per address even when the request carries a valid token: otherwise
    # every account an attacker creates would bring a fresh budget for password guessing.
    async with running_app(limited(servers)) as app:
        for _ in range(3):
            assert_not_limited(await app.client.post(LOG_IN))
        token, _ = await quick_user(app)
        assert_rate_limited(await app.client.post(LOG_IN, token=token))
        variables = {"i": {"username": "sneaky", "password": "long-enough"}}
        assert_rate_limited(await app.client.post(SIGN_UP, variables, token=token))


FRAGMENT_FORMS = {
    "inline-fragment": (
        'mutation { ... on Mutation { logIn(username: "nobody_here", password: "wrong-pass")'
        " { token } } }"
    ),
    "fragment-spread": (
        "mutation { ...Guess } fragment Guess on Mutation"
        ' { logIn(username: "nobody_here", password: "wrong-pass") { token } }'
    ),
    "alias": (
        'mutation { guess: logIn(username: "nobody_here", password: "wrong-pass") { token } }'
    ),
}


async def test_log_ins_inside_fragments_and_aliases_count(servers: Servers) -> None:
    async with running_app(limited(servers)) as app:
        for form in FRAGMENT_FORMS.values():
            body = assert_not_limited(await app.client.post(form))
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert_rate_limited(await app.client.post(LOG_IN))


async def test_every_log_in_of_one_document_counts(servers: Servers) -> None:
    async with running_app(limited(servers)) as app:
        four = " ".join(
            f'g{i}: logIn(username: "nobody_here", password: "wrong-pass") {{ token }}'
            for i in range(4)
        )
        assert_rate_limited(await app.client.post(f"mutation {{ {four} }}"))


# --- other mutations, per viewer ------------------------------------------------------------


async def test_writes_count_per_viewer(servers: Servers) -> None:
    async with running_app(limited(servers, rate_limit_write="3/hour")) as app:
        book = gid("Book", await insert_book(app))
        alice, _ = await quick_user(app)
        bob, _ = await quick_user(app)
        for stars in (1, 2, 3):
            assert (await app.client.data(RATE, {"b": book, "s": stars}, alice))["rateBook"]
        before = await snapshot(app)
        assert_rate_limited(await app.client.post(RATE, {"b": book, "s": 5}, token=alice))
        assert await snapshot(app) == before
        review = await app.services.store.reviews.find_one({})
        assert review is not None
        assert review["rating"] == 3  # the refused 5 stars never ran
        # Bob, from the same address, has his own budget; Alice may still read.
        for stars in (4, 5, 1):
            assert (await app.client.data(RATE, {"b": book, "s": stars}, bob))["rateBook"]
        assert (await app.client.data("{ viewer { id } }", token=alice))["viewer"]


# --- reads, per viewer or address -----------------------------------------------------------


async def test_reads_count_per_request_and_viewer(servers: Servers) -> None:
    async with running_app(limited(servers, rate_limit_read="5/hour")) as app:
        token, _ = await quick_user(app)
        for _ in range(5):
            assert_not_limited(await app.client.post("{ books { totalCount } }"))
        refused = await app.client.post("{ books { totalCount } }")
        assert_rate_limited(refused)
        # GET counts the same.
        refused = await app.client.http.get("/graphql", params={"query": "{ __typename }"})
        assert_rate_limited(refused)
        # A viewer counts apart from the anonymous requests of their address.
        for _ in range(5):
            assert_not_limited(await app.client.post("{ viewer { id } }", token=token))
        assert_rate_limited(await app.client.post("{ viewer { id } }", token=token))


# --- across API processes --------------------------------------------------------------------


async def test_two_api_processes_sharing_redis_share_the_limits(servers: Servers) -> None:
    settings = limited(servers)
    async with running_app(settings) as first, running_app(settings) as second:
        assert first.services.rate_limiter is not second.services.rate_limiter
        for _ in range(2):
            assert_not_limited(await first.client.post(LOG_IN))
        assert_not_limited(await second.client.post(LOG_IN))
        assert_rate_limited(await second.client.post(LOG_IN))
        assert_rate_limited(await first.client.post(LOG_IN))


async def test_a_different_prefix_is_a_different_deployment(servers: Servers) -> None:
    # The shared count above comes from the shared Redis keys, not from this process.
    async with running_app(limited(servers)) as first, running_app(limited(servers)) as second:
        for _ in range(3):
            assert_not_limited(await first.client.post(LOG_IN))
        assert_rate_limited(await first.client.post(LOG_IN))
        assert_not_limited(await second.client.post(LOG_IN))


# --- Redis unreachable ------------------------------------------------------------------------


def dead_redis_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # nothing listens there once the probe is closed


def without_redis(servers: Servers, fail_open: bool) -> Settings:
    return app_settings(
        servers.mongodb_url,
        dead_redis_url(),
        rate_limit_enabled=True,
        rate_limit_write="1/hour",
        rate_limit_read="1/hour",
        rate_limit_fail_open=fail_open,
        redis_timeout_ms=500,
    )


async def test_fail_open_serves_without_limits_when_redis_is_down(servers: Servers) -> None:
    async with running_app(without_redis(servers, fail_open=True)) as app:
        book = gid("Book", await insert_book(app))
        token, _ = await quick_user(app)
        # Far over the 1/hour limits: nothing can be counted, so nothing is refused.
        for stars in (1, 2, 3):
            rated = await app.client.data(RATE, {"b": book, "s": stars}, token)
            assert rated["rateBook"]["rating"] == stars
        assert (await app.client.data("{ books { totalCount } }"))["books"]["totalCount"] == 1
        # The writes are kept and their events wait in the outbox for Redis to return.
        assert await app.services.store.outbox.count_documents({}) == 3


async def test_fail_closed_refuses_with_503_when_redis_is_down(servers: Servers) -> None:
    async with running_app(without_redis(servers, fail_open=False)) as app:
        book = gid("Book", await insert_book(app))
        token, _ = await quick_user(app)
        before = await app.services.store.db["reviews"].count_documents({})
        for response in (
            await app.client.post(RATE, {"b": book, "s": 4}, token=token),
            await app.client.post("{ books { totalCount } }"),
            await app.client.post(LOG_IN),
        ):
            # The service, not the client, is at fault: SERVICE_UNAVAILABLE, not RATE_LIMITED.
            assert response.status_code == 503, response.text
            (error,) = response.json()["errors"]
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            assert int(response.headers["retry-after"]) == error["extensions"]["retryAfter"]
            assert int(response.headers["retry-after"]) >= 1
        assert await app.services.store.db["reviews"].count_documents({}) == before
        assert await app.services.store.outbox.count_documents({}) == 0


async def test_limits_off_means_no_limiter(servers: Servers) -> None:
    async with running_app(limited(servers, rate_limit_enabled=False)) as app:
        assert app.services.rate_limiter is None
        for _ in range(5):
            assert_not_limited(await app.client.post(LOG_IN))
