"""Shared fixtures (shared helpers are in tests/support/).

One MongoDB and one Redis serve the whole session: MONGODB_URL / REDIS_URL when set (e.g. a
real mongod), otherwise started here by `devtools.embedded` (memory mongoeco, Redis without
persistence on a free port). Each test uses its own database name on that one server, which
keeps collections small (mongoeco's inserts slow down as a collection grows) and keeps tests
from seeing each other's data.
"""

import os
from collections.abc import AsyncIterator, Iterator
from uuid import uuid4

import pytest

from devtools.demo.loader import load_demo
from devtools.embedded import Servers, embedded_servers
from tests.support.app import (
    DEMO_TEST_SCALE,
    AppUnderTest,
    DemoApp,
    GraphQLClient,
    app_settings,
    running_app,
)
from workers.reconcile import reconcile


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """MongoDB and Redis for the session (`.mongodb_url`, `.redis_url`)."""
    with embedded_servers(
        None,
        mongodb_url=os.environ.get("MONGODB_URL") or None,
        redis_url=os.environ.get("REDIS_URL") or None,
    ) as started:
        yield started


@pytest.fixture
def unique_db_name() -> str:
    """A database name of this test's own."""
    return f"t_{uuid4().hex[:12]}"


# --- Application fixtures (other engineers: add below) ----------------------------------------


@pytest.fixture
async def app(servers: Servers) -> AsyncIterator[AppUnderTest]:
    """The API on a database of this test's own, reached through GraphQL over HTTP."""
    async with running_app(app_settings(servers.mongodb_url, servers.redis_url)) as running:
        yield running


@pytest.fixture
def gql(app: AppUnderTest) -> GraphQLClient:
    return app.client


@pytest.fixture(scope="module")
async def demo(servers: Servers) -> AsyncIterator[DemoApp]:
    """The seed-page demo data, loaded once per module and reconciled: treat it as read-only."""
    async with running_app(app_settings(servers.mongodb_url, servers.redis_url)) as running:
        summary = await load_demo(running.services.store, DEMO_TEST_SCALE)
        await reconcile(running.services.store, fix=True)
        yield DemoApp(running, summary)
