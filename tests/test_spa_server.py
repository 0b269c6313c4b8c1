"""The SPA as the API serves it: its page at / and its assets, its operations' manifest
registered as the app starts (so they run by hash with PERSISTED_QUERIES_ONLY=true), and
`books persisted-queries load FILE` registering any manifest."""

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devtools.embedded import Servers
from service.persisted_queries import sha256_of
from service.settings import Settings
from tests.support.app import AppUnderTest, app_settings, running_app
from tests.support.processes import run_books

WEB_BUILD = Path(__file__).resolve().parent.parent / "app" / "static" / "web"
SPA_MANIFEST: dict[str, str] = json.loads((WEB_BUILD / "persisted-documents.json").read_text())


def spa_hash(operation: str) -> str:
    [digest] = [
        digest
        for digest, document in SPA_MANIFEST.items()
        if re.search(rf"\b(query|mutation|subscription) {operation}\b", document)
    ]
    return digest


def by_hash(digest: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "variables": variables or {},
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
    }


@pytest.fixture
async def persisted_only(servers: Servers) -> AsyncIterator[AppUnderTest]:
    settings = app_settings(servers.mongodb_url, servers.redis_url, persisted_queries_only=True)
    async with running_app(settings) as app:
        yield app


async def test_the_page_is_served_at_the_root_with_its_assets(app: AppUnderTest) -> None:
    page = await app.client.http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text == (WEB_BUILD / "index.html").read_text()
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
    assert sorted(Path(a).suffix for a in assets) == [".css", ".js"]
    for asset in assets:
        response = await app.client.http.get(asset)
        assert response.status_code == 200
        assert response.content == (WEB_BUILD / asset.lstrip("/")).read_bytes()
    assert (await app.client.http.get("/assets/missing.js")).status_code == 404


def test_the_manifest_holds_each_document_under_its_sha256() -> None:
    assert len(SPA_MANIFEST) == 19
    assert all(sha256_of(document) == digest for digest, document in SPA_MANIFEST.items())


async def test_persisted_only_runs_the_spas_hashes_and_refuses_other_documents(
    persisted_only: AppUnderTest,
) -> None:
    http = persisted_only.client.http
    page = await http.post("/graphql", json=by_hash(spa_hash("FirstBookPage"), {"sort": "POPULAR"}))
    assert page.json() == {
        "data": {"viewer": None, "books": {"__typename": "BookConnection", "edges": []}}
    }

    refused = await http.post("/graphql", json={"query": "{ books(first: 1) { totalCount } }"})
    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    unknown = await http.post("/graphql", json=by_hash("0" * 64))
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


COUNT_BOOKS = "query CountBooks { books(first: 1) { totalCount } }"


async def answer(app: AppUnderTest, digest: str) -> Any:
    return (await app.client.http.post("/graphql", json=by_hash(digest))).json()


@pytest.mark.slow  # runs the `books` command
@pytest.mark.parametrize(
    "manifest",
    [
        pytest.param({sha256_of(COUNT_BOOKS): COUNT_BOOKS}, id="graphql-codegen"),
        pytest.param({f"sha256:{sha256_of(COUNT_BOOKS)}": COUNT_BOOKS}, id="prefixed-hash"),
        pytest.param(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {
                        "id": sha256_of(COUNT_BOOKS),
                        "name": "CountBooks",
                        "type": "query",
                        "body": COUNT_BOOKS,
                    }
                ],
            },
            id="apollo",
        ),
    ],
)
async def test_the_load_command_registers_a_manifest_for_every_api_process(
    persisted_only: AppUnderTest, tmp_path: Path, manifest: dict[str, Any]
) -> None:
    digest = sha256_of(COUNT_BOOKS)
    assert (await answer(persisted_only, digest))["errors"][0]["extensions"]["code"] == (
        "PERSISTED_QUERY_NOT_FOUND"
    )
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))

    loaded = run_books(persisted_only.settings, "persisted-queries", "load", str(path))

    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout == f"registered 1 documents from {path}\n"
    assert await answer(persisted_only, digest) == {"data": {"books": {"totalCount": 0}}}


@pytest.mark.slow  # runs the `books` command
async def test_the_load_command_refuses_a_hash_that_is_not_its_documents(
    persisted_only: AppUnderTest, tmp_path: Path
) -> None:
    other = "query Other { books(first: 2) { totalCount } }"
    path = tmp_path / "manifest.json"
    path.write_text(
        json.dumps({sha256_of(COUNT_BOOKS): COUNT_BOOKS, sha256_of(other): other + " "})
    )

    loaded = run_books(persisted_only.settings, "persisted-queries", "load", str(path))

    assert loaded.returncode == 2  # a failure (1 is only `reconcile --check` finding drift)
    assert loaded.stderr == (
        f"books persisted-queries: {path}: {sha256_of(other)} is not the SHA-256 of its document\n"
    )
    # Nothing of a refused file is registered, not even its good entries.
    assert (await answer(persisted_only, sha256_of(COUNT_BOOKS)))["errors"][0]["extensions"][
        "code"
    ] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.slow  # runs the `books` command
def test_the_load_command_needs_redis(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text("{}")
    settings = Settings(redis_url=None, json_logs=False)

    loaded = run_books(settings, "persisted-queries", "load", str(path))

    assert loaded.returncode == 2
    assert "REDIS_URL is not set" in loaded.stderr
