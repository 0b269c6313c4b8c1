"""Shared fixtures.

One MongoDB and one Redis serve the whole session: MONGODB_URL / REDIS_URL when set (e.g. a
real mongod), otherwise started here by `service.embedded` (memory mongoeco, Redis without
persistence on a free port). Each test uses its own database name on that one server, which
keeps collections small (mongoeco's inserts slow down as a collection grows) and keeps tests
from seeing each other's data.
"""

import os
from collections.abc import Iterator
from uuid import uuid4

import pytest

from service.embedded import Servers, embedded_servers


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
