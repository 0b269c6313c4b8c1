"""What the tests with real JavaScript clients and a real browser share: the tools they need
(node, npm, Chromium) with one skip policy, and a stack of real processes serving the demo.

Skip policy: a developer machine without a tool skips those tests with a message saying how to
install it; under `CI=true` a missing tool fails the run instead, so a green CI always means
the clients really ran.
"""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devtools.embedded import Servers, settings_env
from service.settings import Settings
from tests.support.app import app_settings
from tests.support.browser import missing
from tests.support.processes import ApiServer, Child, running, start_api, start_worker

CLIENTS_DIR = Path(__file__).resolve().parents[1] / "clients"
NODE_MODULES = CLIENTS_DIR / "node_modules"
DEMO_SCALE = "0.005"  # 51 ratings and 29 text reviews: enough pages, quick to load
SEED_TIMEOUT = 120.0
INSTALL_HINTS = {
    "node": "install Node.js 20 or newer (Debian: apt-get install nodejs npm)",
    "npm": "install npm (Debian: apt-get install npm), then `make test` runs `npm ci`",
}


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(name, INSTALL_HINTS[name])
    return path


def require_node_modules() -> None:
    require_tool("node")
    require_tool("npm")
    if not (NODE_MODULES / ".package-lock.json").exists():
        missing(
            f"{NODE_MODULES.relative_to(CLIENTS_DIR.parent.parent)}",
            f"run `npm ci` in {CLIENTS_DIR} (`make test` does it)",
        )


@dataclass
class Stack:
    """One API process and one worker serving the demo data on a database of their own."""

    settings: Settings
    api: ApiServer
    worker: Child
    book_id: str  # the demo book's global id

    @property
    def ws_url(self) -> str:
        return self.api.graphql_url.replace("http://", "ws://", 1)

    def client_env(self) -> dict[str, str]:
        """What the node tests read: where the API is and what it serves."""
        return {
            **os.environ,
            "API_URL": self.api.graphql_url,
            "WS_URL": self.ws_url,
            "BOOK_ID": self.book_id,
            # for waiting until the API listens for figures, and for signing expired tokens
            "REDIS_URL": self.settings.redis_url or "",
            "STATS_CHANNEL": self.settings.stats_channel,
            "JWT_SECRET": self.settings.jwt_secret or "",
        }


def seed_demo(settings: Settings) -> None:
    """`books seed`: the demo data, loaded and reconciled, as a deployment loads it."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "seed", "--scale", DEMO_SCALE],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=SEED_TIMEOUT,
    )
    assert done.returncode == 0, f"books seed failed:\n{done.stdout}\n{done.stderr}"


def demo_book_id(api: ApiServer) -> str:
    response = httpx.post(
        api.graphql_url, json={"query": "{ books(first: 2) { edges { node { id } } } }"}, timeout=30
    )
    assert response.status_code == 200, response.text
    [edge] = response.json()["data"]["books"]["edges"]
    return str(edge["node"]["id"])


@contextmanager
def running_stack(servers: Servers, **overrides: Any) -> Iterator[Stack]:
    """The demo on a fresh database, served by a real API process and worked on by a real
    worker (`overrides`: settings such as cors_origins); both stopped at the end."""
    settings = app_settings(
        servers.mongodb_url, servers.redis_url, worker_block_ms=200, **overrides
    )
    seed_demo(settings)
    worker = start_worker(settings, "clients")
    with running(worker):
        api = start_api(settings)
        with running(api.child):
            yield Stack(settings, api, worker, demo_book_id(api))
