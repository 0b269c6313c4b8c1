"""GraphQL abuse limits, through GraphQL over HTTP on the real app: each refusal comes before
execution (a mutation inside a refused document writes nothing: every stored document and the
event stream are compared) and the same document just inside the limit runs.

Limits under test (service/settings.py): max_query_depth, max_aliases, max_tokens,
max_query_cost (a connection multiplies what it selects by `first`; a variable `first` counts
as 100), max_batch_operations, max_body_bytes (413, with and without Content-Length);
production mode (no introspection, no field suggestions, no GraphiQL); persisted-only mode and
automatic persisted queries. `first` outside 1..100 on every connection is proven in
tests/test_validation.py (test_first_outside_1_to_100_is_refused).
"""

import re
from collections.abc import AsyncIterator
from itertools import cycle, islice
from typing import Any

import httpx
import orjson
import pytest
from graphql import Source
from graphql.language import Lexer, TokenKind

from app.asgi import WEB_MANIFEST
from service.persisted_queries import read_manifest, sha256_of
from service.settings import Settings
from tests.support.app import AppUnderTest, DemoApp, app_settings, media_type, running_app
from tests.support.documents import gid, insert_book, quick_user
from tests.support.operations import BOOK_PAGE_QUERY
from tests.support.snapshots import snapshot

GRAPHQL_RESPONSE = "application/graphql-response+json"
DEFAULTS = Settings()


def test_the_defaults_are_the_documented_limits() -> None:
    # The figures the tests below are written against.
    assert DEFAULTS.max_query_depth == 10
    assert DEFAULTS.max_aliases == 15
    assert DEFAULTS.max_tokens == 2000
    assert DEFAULTS.max_query_cost == 5000
    assert DEFAULTS.max_batch_operations == 10  # Apollo's BatchHttpLink default batchMax
    assert DEFAULTS.max_body_bytes == 262_144


class Target:
    """A viewer and a book to rate: the write that proves whether a document ran."""

    def __init__(self, app: AppUnderTest, token: str, book: str) -> None:
        self.app = app
        self.token = token
        self.book = book

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = "viewer"
    ) -> httpx.Response:
        return await self.app.client.post(
            query,
            {"b": self.book, **(variables or {})},
            token=self.token if token == "viewer" else token,
            headers={"accept": GRAPHQL_RESPONSE},
        )

    async def reviews(self) -> int:
        return await self.app.services.store.reviews.count_documents({})


@pytest.fixture
async def target(app: AppUnderTest) -> Target:
    token, _ = await quick_user(app)
    return Target(app, token, gid("Book", await insert_book(app)))


def assert_refused(response: httpx.Response, fragment: str) -> dict[str, Any]:
    """A request error: HTTP 400 (graphql-response+json), no data, BAD_USER_INPUT."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = response.json()
    assert "data" not in body
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}, body
    assert any(fragment in e["message"] for e in body["errors"]), body
    return body


def assert_ran(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


def rate_with(selection: str) -> str:
    return f"mutation($b: ID!) {{ rateBook(bookId: $b, stars: 4) {{ {selection} }} }}"


# --- depth ----------------------------------------------------------------------------------


def nested(levels: int) -> str:
    """rateBook's selection nested `levels` deep (rateBook itself is level 1)."""
    chain = list(islice(cycle(["user", "reviews(first: 1)", "edges", "node"]), levels - 1))
    selection = "__typename"
    for field in reversed(chain):
        selection = f"{field} {{ {selection} }}"
    return selection


async def test_a_document_deeper_than_max_depth_is_refused_before_it_runs(
    app: AppUnderTest, target: Target
) -> None:
    before = await snapshot(app)
    refused = await target.post(rate_with(nested(DEFAULTS.max_query_depth + 1)))
    assert_refused(refused, f"exceeds maximum operation depth of {DEFAULTS.max_query_depth}")
    assert await snapshot(app) == before

    ran = assert_ran(await target.post(rate_with(nested(DEFAULTS.max_query_depth))))
    node = ran["rateBook"]["user"]["reviews"]["edges"][0]["node"]
    assert node["user"]["reviews"]["edges"][0]["node"]["user"]["__typename"] == "User"
    assert await target.reviews() == 1


# --- aliases --------------------------------------------------------------------------------


def aliased(count: int) -> str:
    """rateBook under an alias plus `count - 1` aliased __typename fields: `count` aliases."""
    extra = " ".join(f"t{i}: __typename" for i in range(count - 1))
    return f"mutation($b: ID!) {{ r: rateBook(bookId: $b, stars: 4) {{ id }} {extra} }}"


async def test_more_aliases_than_allowed_are_refused_before_anything_runs(
    app: AppUnderTest, target: Target
) -> None:
    before = await snapshot(app)
    refused = await target.post(aliased(DEFAULTS.max_aliases + 1))
    assert_refused(refused, f"Allowed: {DEFAULTS.max_aliases}")
    assert await snapshot(app) == before

    assert assert_ran(await target.post(aliased(DEFAULTS.max_aliases)))["r"]["id"]
    assert await target.reviews() == 1


# --- tokens ---------------------------------------------------------------------------------


def token_count(document: str) -> int:
    lexer = Lexer(Source(document))
    count = 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def with_tokens(count: int) -> str:
    """A rateBook mutation of exactly `count` tokens (padded with a list of stars)."""
    selection = "id book {{ reviews(stars: [{}]) {{ totalCount }} }}"
    base = token_count(rate_with(selection.format("")))
    document = rate_with(selection.format(", ".join(["1"] * (count - base))))
    assert token_count(document) == count
    return document


async def test_a_document_of_more_tokens_than_allowed_is_refused_before_it_runs(
    app: AppUnderTest, target: Target
) -> None:
    before = await snapshot(app)
    refused = await target.post(with_tokens(DEFAULTS.max_tokens + 1))
    assert_refused(refused, f"more than {DEFAULTS.max_tokens} tokens")
    assert await snapshot(app) == before

    assert assert_ran(await target.post(with_tokens(DEFAULTS.max_tokens)))["rateBook"]["id"]
    assert await target.reviews() == 1


# --- cost -----------------------------------------------------------------------------------

REVIEWS_OF_REVIEWERS = """
    reviews(first: 100) { edges { node { text
      user { reviews(first: 100) { edges { node { rating book { title } } } } } } } }
"""


async def test_reviews_of_every_reviewer_at_100_each_is_too_expensive(
    app: AppUnderTest, target: Target
) -> None:
    before = await snapshot(app)
    refused = await target.post(rate_with(f"book {{ {REVIEWS_OF_REVIEWERS} }}"))
    body = assert_refused(refused, "too expensive")
    assert f"the limit of {DEFAULTS.max_query_cost}" in body["errors"][0]["message"]
    assert await snapshot(app) == before
    query = f"query($b: ID!) {{ book(id: $b) {{ {REVIEWS_OF_REVIEWERS} }} }}"
    assert_refused(await target.post(query), "too expensive")


async def test_the_book_page_with_30_reviews_is_within_the_cost_limit(demo: DemoApp) -> None:
    response = await demo.app.client.post(
        BOOK_PAGE_QUERY, {"id": demo.book_id}, headers={"accept": GRAPHQL_RESPONSE}
    )
    book = assert_ran(response)["book"]
    assert book["title"] == "The Dance of Intimacy"
    assert len(book["reviews"]["edges"]) == 29  # every review the seed page shows


BOOKS_WITH_REVIEWS = (
    "books(first: {first}) {{ edges {{ node {{"
    " reviews(first: 30) {{ edges {{ node {{ text }} }} }} }} }} }}"
)


async def test_a_variable_first_counts_as_the_largest_page(target: Target) -> None:
    # With 30 books of 30 reviews the estimate is ~2,800: accepted as a literal. The same
    # document with `first` in a variable is costed at 100 books (validation runs before the
    # variables are known) and is refused whatever the variable holds.
    literal = f"query {{ {BOOKS_WITH_REVIEWS.format(first=30)} }}"
    assert_ran(await target.post(literal))
    variable = f"query($f: Int) {{ {BOOKS_WITH_REVIEWS.format(first='$f')} }}"
    assert_refused(await target.post(variable, {"f": 30}), "too expensive")


async def test_cost_counts_fragments_where_they_are_spread(target: Target) -> None:
    # The same expensive selection hidden in a fragment is costed at its spread.
    query = (
        "query($b: ID!) { book(id: $b) { ...Page } }"
        f" fragment Page on Book {{ {REVIEWS_OF_REVIEWERS} }}"
    )
    assert_refused(await target.post(query), "too expensive")


# --- batches --------------------------------------------------------------------------------


async def test_a_batch_over_the_operation_limit_is_refused_and_nothing_runs(
    app: AppUnderTest, target: Target
) -> None:
    limit = DEFAULTS.max_batch_operations
    books = [gid("Book", await insert_book(app, f"Book {i}")) for i in range(limit + 1)]
    operations = [{"query": rate_with("id"), "variables": {"b": book}} for book in books]
    headers = {"authorization": f"Bearer {target.token}"}

    before = await snapshot(app)
    refused = await app.client.http.post("/graphql", json=operations, headers=headers)
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/json")
    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == f"Too many operations in one batch: {limit + 1} (at most {limit})"
    assert await snapshot(app) == before

    ran = await app.client.http.post("/graphql", json=operations[:limit], headers=headers)
    assert ran.status_code == 200, ran.text
    results = ran.json()
    assert len(results) == limit
    assert all(not r.get("errors") and r["data"]["rateBook"]["id"] for r in results)
    assert await target.reviews() == limit


# --- body size ------------------------------------------------------------------------------


def body_of_size(size: int, book: str) -> bytes:
    """A rateBook request of exactly `size` bytes (an unused variable pads it)."""
    empty = orjson.dumps({"query": rate_with("id"), "variables": {"b": book, "pad": ""}})
    body = orjson.dumps(
        {"query": rate_with("id"), "variables": {"b": book, "pad": "x" * (size - len(empty))}}
    )
    assert len(body) == size
    return body


async def chunked(body: bytes, chunk: int = 16_384) -> AsyncIterator[bytes]:
    for start in range(0, len(body), chunk):
        yield body[start : start + chunk]


async def send_body(target: Target, body: bytes, streamed: bool) -> httpx.Response:
    headers = {"content-type": "application/json", "authorization": f"Bearer {target.token}"}
    if streamed:  # no Content-Length: Transfer-Encoding: chunked
        request = target.app.client.http.build_request(
            "POST", "/graphql", content=chunked(body), headers=headers
        )
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        return await target.app.client.http.send(request)
    return await target.app.client.http.post("/graphql", content=body, headers=headers)


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_max_body_bytes_is_413_and_nothing_runs(
    app: AppUnderTest, target: Target, streamed: bool
) -> None:
    limit = app.settings.max_body_bytes
    before = await snapshot(app)
    refused = await send_body(target, body_of_size(limit + 1, target.book), streamed)
    assert refused.status_code == 413
    assert refused.json()["errors"][0] == {
        "message": f"request body larger than {limit} bytes",
        "extensions": {"code": "BAD_USER_INPUT"},
    }
    assert await snapshot(app) == before

    ran = await send_body(target, body_of_size(limit, target.book), streamed)
    assert ran.status_code == 200, ran.text
    assert ran.json()["data"]["rateBook"]["id"]
    assert await target.reviews() == 1


async def test_a_413_comes_before_the_anonymous_response_cache_reads_the_body(
    app: AppUnderTest,
) -> None:
    # Anonymous POSTs are read by the response cache before strawberry: the limit holds there.
    body = orjson.dumps({"query": "{ viewer { id } }", "variables": {"pad": "x" * 300_000}})
    for streamed in (False, True):
        content: Any = chunked(body) if streamed else body
        response = await app.client.http.post(
            "/graphql", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413


# --- production mode ------------------------------------------------------------------------

INTROSPECTION = ["{ __schema { queryType { name } } }", '{ __type(name: "Book") { name } }']
TYPO = "{ bookz(first: 1) { totalCount } }"


@pytest.fixture(scope="module")
async def production(servers: Any) -> AsyncIterator[AppUnderTest]:
    settings = app_settings(servers.mongodb_url, servers.redis_url, production=True)
    async with running_app(settings) as running:
        yield running


@pytest.mark.parametrize("query", INTROSPECTION)
async def test_production_refuses_introspection(production: AppUnderTest, query: str) -> None:
    response = await production.client.post(query, headers={"accept": GRAPHQL_RESPONSE})
    assert_refused(response, "introspection has been disabled")
    # __typename is not introspection of the schema: clients rely on it.
    assert assert_ran(await production.client.post("{ __typename }")) == {"__typename": "Query"}


@pytest.mark.parametrize("query", INTROSPECTION)
async def test_introspection_is_served_outside_production(app: AppUnderTest, query: str) -> None:
    data = assert_ran(await app.client.post(query))
    assert data.get("__schema") or data.get("__type")


async def test_production_gives_no_field_suggestions(production: AppUnderTest) -> None:
    body = assert_refused(
        await production.client.post(TYPO, headers={"accept": GRAPHQL_RESPONSE}),
        "Cannot query field 'bookz'",
    )
    assert not any("Did you mean" in e["message"] for e in body["errors"])


async def test_field_suggestions_are_given_outside_production(app: AppUnderTest) -> None:
    body = assert_refused(
        await app.client.post(TYPO, headers={"accept": GRAPHQL_RESPONSE}), "Did you mean"
    )
    assert "'books'" in body["errors"][0]["message"]


async def test_production_serves_no_graphiql(production: AppUnderTest) -> None:
    response = await production.client.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code in (400, 404)
    assert "text/html" not in response.headers.get("content-type", "")
    assert "graphiql" not in response.text.lower()
    assert (await production.client.http.get("/graphiql/graphiql.js")).status_code == 404
    # The API itself still answers GET queries.
    query = await production.client.http.get("/graphql", params={"query": "{ __typename }"})
    assert query.json() == {"data": {"__typename": "Query"}}


async def test_graphiql_is_served_outside_production(app: AppUnderTest) -> None:
    response = await app.client.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
    # Self-hosted: the page loads its script and stylesheet from the service, nothing else.
    page_refs = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert page_refs == ["data:,", "/graphiql/graphiql.css", "/graphiql/graphiql.js"]
    script = await app.client.http.get("/graphiql/graphiql.js")
    assert (script.status_code, media_type(script)) == (200, "text/javascript")
    stylesheet = await app.client.http.get("/graphiql/graphiql.css")
    assert (stylesheet.status_code, media_type(stylesheet)) == (200, "text/css")
    # The stylesheet's fonts are files beside it too (its images are inline data: URLs).
    urls = [url.strip("\"'") for url in re.findall(r"url\(([^)]*)\)", stylesheet.text)]
    fonts = [url for url in urls if not url.startswith("data:image/")]
    assert len(fonts) == 34
    assert all(re.fullmatch(r"/graphiql/fonts/[0-9a-f]{16}\.woff2?", url) for url in fonts)
    font = await app.client.http.get(fonts[0])
    assert (font.status_code, media_type(font)) == (200, "font/woff2")


async def test_nested_introspection_is_refused_even_outside_production(app: AppUnderTest) -> None:
    # Introspection fields are exempt from the depth limit; graphql-core's own rule stops
    # the fields-of-types-of-fields amplification.
    inner = "name"
    for _ in range(3):
        inner = f"name fields {{ name type {{ {inner} }} }}"
    response = await app.client.post(
        f"{{ __schema {{ types {{ {inner} }} }} }}", headers={"accept": GRAPHQL_RESPONSE}
    )
    assert_refused(response, "Maximum introspection depth exceeded")


# --- persisted queries ----------------------------------------------------------------------


def persisted(digest: str, query: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    if query is not None:
        body["query"] = query
    return body


async def post_json(app: AppUnderTest, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"accept": GRAPHQL_RESPONSE}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return await app.client.http.post("/graphql", json=body, headers=headers)


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "data" not in body or body["data"] is None, body
    assert len(body["errors"]) == 1, body
    return body["errors"][0]


@pytest.fixture
async def persisted_only(servers: Any) -> AsyncIterator[AppUnderTest]:
    settings = app_settings(servers.mongodb_url, servers.redis_url, persisted_queries_only=True)
    async with running_app(settings) as running:
        yield running


async def test_persisted_only_refuses_a_plain_document_before_it_runs(
    persisted_only: AppUnderTest,
) -> None:
    app = persisted_only
    token, _ = await quick_user(app)
    book = gid("Book", await insert_book(app))
    before = await snapshot(app)
    response = await post_json(app, {"query": rate_with("id"), "variables": {"b": book}}, token)
    assert response.status_code == 400
    error = error_of(response)
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert "only registered documents are accepted" in error["message"]
    # Sending a new document with its hash does not register it either.
    query = rate_with("id rating")
    response = await post_json(
        app, {**persisted(sha256_of(query), query), "variables": {"b": book}}, token
    )
    assert error_of(response)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    response = await post_json(
        app, {**persisted(sha256_of(query)), "variables": {"b": book}}, token
    )
    assert error_of(response)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert await snapshot(app) == before


async def test_persisted_only_accepts_a_registered_document_by_hash(
    persisted_only: AppUnderTest,
) -> None:
    app = persisted_only
    token, _ = await quick_user(app)
    book = gid("Book", await insert_book(app))
    query = rate_with("id rating")
    digest = await app.services.persisted.register(query)
    assert digest == sha256_of(query)

    by_hash = await post_json(app, {**persisted(digest), "variables": {"b": book}}, token)
    assert assert_ran(by_hash)["rateBook"]["rating"] == 4
    with_text = await post_json(app, {**persisted(digest, query), "variables": {"b": book}}, token)
    assert assert_ran(with_text)["rateBook"]["rating"] == 4
    assert await app.services.store.reviews.count_documents({}) == 1

    unknown = await post_json(app, persisted("0" * 64))
    assert unknown.status_code == 400
    error = error_of(unknown)
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert error["message"] == "PersistedQueryNotFound"


async def test_automatic_persisted_queries_register_then_serve_by_hash(app: AppUnderTest) -> None:
    query = "{ books(first: 1) { totalCount } }"
    digest = sha256_of(query)

    unknown = await post_json(app, persisted(digest))
    error = error_of(unknown)
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert error["message"] == "PersistedQueryNotFound"

    assert assert_ran(await post_json(app, persisted(digest, query))) == {
        "books": {"totalCount": 0}
    }
    assert assert_ran(await post_json(app, persisted(digest))) == {"books": {"totalCount": 0}}
    # GET carries the hash in the `extensions` parameter.
    response = await app.client.http.get(
        "/graphql",
        params={"extensions": orjson.dumps(persisted(digest)["extensions"]).decode()},
        headers={"accept": "application/json"},
    )
    assert response.json() == {"data": {"books": {"totalCount": 0}}}


async def test_a_hash_that_does_not_match_the_document_is_refused_and_not_stored(
    app: AppUnderTest,
) -> None:
    query = "{ books(first: 1) { totalCount } }"
    wrong = sha256_of(query + " ")
    response = await post_json(app, persisted(wrong, query))
    assert response.status_code == 400
    error = error_of(response)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "does not match" in error["message"]
    follow_up = error_of(await post_json(app, persisted(wrong)))
    assert follow_up["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize("digest", ["abc", 42, "", None], ids=["short", "number", "empty", "null"])
async def test_a_malformed_hash_is_bad_user_input(app: AppUnderTest, digest: Any) -> None:
    response = await post_json(app, persisted(digest, "{ viewer { id } }"))
    error = error_of(response)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "extensions.persistedQuery.sha256Hash"


async def stored_documents(app: AppUnderTest) -> dict[str, int]:
    """{Redis key: its TTL in seconds} of every persisted query this app's store holds, but
    the SPA's trusted documents (registered at start-up)."""
    redis = app.services.redis
    prefix = f"{app.settings.redis_prefix}:pq:"
    trusted = {prefix + digest for digest in read_manifest(WEB_MANIFEST)}
    keys = [key.decode() async for key in redis.scan_iter(f"{prefix}*")]
    documents = [k for k in keys if len(k.removeprefix(prefix)) == 64 and k not in trusted]
    return {key: await redis.ttl(key) for key in documents}


INVALID_DOCUMENTS = {
    "syntax": "{ books(first: 1) { totalCount ",
    "unknown field": "{ books(first: 1) { nope } }",
    "too deep": "query { " + nested(12) + " }",
    "too many tokens": "{ " + " ".join(["__typename"] * 2100) + " }",
    "no operation": "fragment F on Query { __typename }",
    "bad variables": "query($n: Int!) { books(first: $n) { totalCount } }",
}


@pytest.mark.parametrize("kind", list(INVALID_DOCUMENTS))
async def test_a_document_that_does_not_parse_or_validate_is_not_stored(
    app: AppUnderTest, kind: str
) -> None:
    query = INVALID_DOCUMENTS[kind]
    digest = sha256_of(query)
    response = await post_json(app, {**persisted(digest, query), "variables": {"n": "x"}})
    assert response.status_code == 400, response.text
    assert "data" not in response.json()
    assert await stored_documents(app) == {}
    follow_up = error_of(await post_json(app, persisted(digest)))
    assert follow_up["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def padded(size: int) -> str:
    """A valid document of exactly `size` bytes (a comment makes up the length)."""
    query = "{ books(first: 1) { totalCount } }\n#"
    return query + "x" * (size - len(query))


async def test_a_document_over_the_persisted_size_limit_is_refused_and_not_stored(
    app: AppUnderTest,
) -> None:
    limit = app.settings.max_persisted_query_bytes
    assert limit == DEFAULTS.max_persisted_query_bytes == 16_384
    too_big = padded(limit + 1)
    response = await post_json(app, persisted(sha256_of(too_big), too_big))
    assert response.status_code == 400
    error = error_of(response)
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "extensions.persistedQuery",
    }
    assert f"at most {limit} bytes" in error["message"]
    assert await stored_documents(app) == {}
    # Sent as a plain document, it runs (the body limit and the token limit still apply).
    assert assert_ran(await post_json(app, {"query": too_big})) == {"books": {"totalCount": 0}}
    # At the limit it is stored.
    fits = padded(limit)
    assert assert_ran(await post_json(app, persisted(sha256_of(fits), fits)))
    assert len(await stored_documents(app)) == 1


async def test_the_store_keeps_the_newest_documents_up_to_its_bound_each_with_a_ttl(
    servers: Any,
) -> None:
    settings = app_settings(servers.mongodb_url, servers.redis_url, persisted_query_max_entries=3)
    async with running_app(settings) as app:
        # A document a client registered first, then the operator trusted: kept for good.
        trusted = "{ books(first: 99) { totalCount } }"
        assert assert_ran(await post_json(app, persisted(sha256_of(trusted), trusted)))
        await app.services.persisted.register(trusted)
        queries = [f"{{ books(first: {n}) {{ totalCount }} }}" for n in range(1, 6)]
        for query in queries:
            assert assert_ran(await post_json(app, persisted(sha256_of(query), query)))
        stored = await stored_documents(app)
        trusted_key = f"{settings.redis_prefix}:pq:{sha256_of(trusted)}"
        assert stored.pop(trusted_key) == -1  # no expiry, outside the bound
        assert sorted(stored) == sorted(
            f"{settings.redis_prefix}:pq:{sha256_of(q)}" for q in queries[2:]
        )
        assert all(0 < ttl <= settings.persisted_query_ttl_seconds for ttl in stored.values())
        # Another API process (no documents in memory) finds only the ones kept.
        async with running_app(settings) as other:
            oldest = error_of(await post_json(other, persisted(sha256_of(queries[0]))))
            assert oldest["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
            newest = await post_json(other, persisted(sha256_of(queries[-1])))
            assert assert_ran(newest) == {"books": {"totalCount": 0}}
