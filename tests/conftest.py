"""Shared fixtures (shared helpers are in tests/support/).

One MongoDB and one Redis serve the whole session: MONGODB_URL / REDIS_URL when set (e.g. a
real mongod), otherwise started here by `devtools.embedded` (memory mongoeco, Redis without
persistence on a free port). Each test uses its own database name on that one server, which
keeps collections small (mongoeco's inserts slow down as a collection grows) and keeps tests
from seeing each other's data.
"""

import os
from collections.abc import AsyncIterator, Iterator, Mapping
from uuid import uuid4

import pytest

from devtools.demo.loader import load_demo
from devtools.embedded import Servers, embedded_servers
from service.publisher import EventPublisher
from tests.support.app import AppUnderTest, DemoApp, GraphQLClient, app_settings, running_app
from tests.support.event_contract import CONTRACT, CONTRACT_PATH
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


@pytest.fixture(scope="session", autouse=True)
def appended_events() -> Iterator[list[dict[str, str]]]:
    """Every event an in-process API (or sweep) appends to a stream during the session."""
    appended: list[dict[str, str]] = []
    append = EventPublisher.append

    async def observed(self: EventPublisher, fields: Mapping[str, str]) -> bool:
        taken = await append(self, fields)
        if taken:
            appended.append(dict(fields))
        return taken

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EventPublisher, "append", observed)
        yield appended


@pytest.fixture(autouse=True)
def appended_events_match_the_contract(appended_events: list[dict[str, str]]) -> Iterator[None]:
    """After each test, every event appended meanwhile matches contract/events.asyncapi.yaml:
    the test fails on the first that does not, naming its type and field."""
    yield
    batch = list(appended_events)
    appended_events.clear()
    for fields in batch:
        problem = CONTRACT.violation(fields)
        assert problem is None, f"appended event departs from {CONTRACT_PATH.name}: {problem}"


# --- Application fixtures (other engineers: add below) ----------------------------------------


@pytest.fixture
async def app(servers: Servers) -> AsyncIterator[AppUnderTest]:
    """The API on a database of this test's own, reached through GraphQL over HTTP."""
    async with running_app(app_settings(servers.mongodb_url, servers.redis_url)) as running:
        yield running


@pytest.fixture
def gql(app: AppUnderTest) -> GraphQLClient:
    return app.client


DEMO_TEST_SCALE = 0.005


@pytest.fixture(scope="module")
async def demo(servers: Servers) -> AsyncIterator[DemoApp]:
    """The seed-page demo data, loaded once per module and reconciled: treat it as read-only."""
    async with running_app(app_settings(servers.mongodb_url, servers.redis_url)) as running:
        summary = await load_demo(running.services.store, DEMO_TEST_SCALE)
        await reconcile(running.services.store, fix=True)
        yield DemoApp(running, summary)
