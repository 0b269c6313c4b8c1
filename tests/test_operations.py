"""Operating the service, with real processes: health and readiness, Prometheus metrics, JSON
logs whose request ids match error responses, the anonymous response cache and automatic
persisted queries shared by two API processes through Redis.

One cluster for the module: two uvicorn API processes ("A" and "B", JSON logs, response cache
on) and one worker, on a database and stream of the module's own; an in-process app on the same
settings gives the tests direct access to MongoDB and Redis. Faults (MongoDB or Redis down,
SIGTERM) are in test_api_faults.py.
"""

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from bson import ObjectId
from prometheus_client.parser import text_string_to_metric_families

from devtools.embedded import Servers
from service.ids import to_global_id
from tests.support.pipeline import World, eventually, lag_zero, world
from tests.support.processes import ApiServer, Child, running, start_api, start_worker

pytestmark = pytest.mark.slow  # real API and worker processes

BOOK_PAGE = """
query BookPage($id: ID!) {
  book(id: $id) {
    title
    ratingStats { count average histogram { stars count percent } }
    shelfCounts { wantToRead currentlyReading read }
    reviewsCount
    reviews(first: 5) { totalCount edges { node { rating text user { displayName } } } }
    viewerReview { rating }
  }
}
"""
SIGN_UP = "mutation SignUp($i: SignUpInput!) { signUp(input: $i) { token } }"
RATE = "mutation Rate($b: ID!, $s: Int!) { rateBook(bookId: $b, stars: $s) { id } }"
HTTP_TIMEOUT = 15.0  # a request must answer within this, never hang


@dataclass
class Cluster:
    w: World
    api_a: ApiServer
    api_b: ApiServer
    worker: Child

    @property
    def children(self) -> tuple[Child, ...]:
        return (self.api_a.child, self.api_b.child, self.worker)


@pytest.fixture(scope="module")
async def cluster(servers: Servers) -> AsyncIterator[Cluster]:
    # Workers publish their counters (read by /metrics) in heartbeats: beat often.
    async with world(servers, trim_interval_seconds=0.2, worker_heartbeat_seconds=0.2) as w:
        worker = start_worker(w.settings, "ops")
        env = {"JSON_LOGS": "true", "RESPONSE_CACHE": "true"}
        with ThreadPoolExecutor(2) as pool:
            starting = [pool.submit(start_api, w.settings, **env) for _ in range(2)]
            wait(starting)
        started = [f.result() for f in starting if f.exception() is None]
        with running(worker, *(api.child for api in started)):
            for future in starting:
                if future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
            yield Cluster(w, started[0], started[1], worker)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as client:
        yield client


async def post(
    http: httpx.AsyncClient,
    api: ApiServer,
    query: str | None,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {}
    if query is not None:
        body["query"] = query
    if variables is not None:
        body["variables"] = variables
    if extensions is not None:
        body["extensions"] = extensions
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post(api.graphql_url, json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


def data_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]  # type: ignore[no-any-return]


async def sign_up(http: httpx.AsyncClient, api: ApiServer) -> str:
    name = f"o{ObjectId()}"
    response = await post(http, api, SIGN_UP, {"i": {"username": name, "password": "pw-12345678"}})
    return str(data_of(response)["signUp"]["token"])


# --- health and readiness ---------------------------------------------------------------------


async def test_health_and_readiness_when_mongodb_and_redis_answer(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    for api in (cluster.api_a, cluster.api_b):
        health = await http.get(f"{api.url}/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = await http.get(f"{api.url}/readyz")
        assert ready.status_code == 200, ready.text
        body = ready.json()
        assert (body["status"], body["mongodb"], body["redis"]) == ("ready", "ok", "ok")
        assert body["pipeline"]["status"] == "ok"  # test_pipeline_health.py: when it is not


# --- metrics ----------------------------------------------------------------------------------

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient, api: ApiServer) -> Samples:
    response = await http.get(f"{api.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_named_operations_errors_and_mongodb_commands(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    api = cluster.api_a
    # A book of this test's own, without reviews: the commands a page costs are known exactly.
    own = ObjectId()
    await cluster.w.store.books.insert_one({"_id": own, "title": "Metered", "genres": []})
    book = to_global_id("Book", own)
    token = await sign_up(http, api)
    before = await scrape(http, api)

    # Authenticated, so each one executes (anonymous ones may come from the response cache).
    for _ in range(3):
        data_of(await post(http, api, BOOK_PAGE, {"id": book}, token))
    # Anonymous twice: the first executes, the second is served from the cache, still counted.
    caching = [(await post(http, api, BOOK_PAGE, {"id": book})).headers.get("x-cache")]
    caching.append((await post(http, api, BOOK_PAGE, {"id": book})).headers.get("x-cache"))
    assert caching == [None, "hit"]
    # Three errors of one code in three operations (the third runs compiled and directly:
    # schema.direct), one of another code.
    for _ in range(3):
        response = await post(http, api, 'query Broken { book(id: "nope") { title } }')
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    response = await post(http, api, RATE, {"b": book, "s": 4})
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    after = await scrape(http, api)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("graphql_requests_total", operation="BookPage", outcome="ok") == 5
    assert grew("graphql_request_seconds_count", operation="BookPage") == 5
    assert grew("graphql_requests_total", operation="Broken", outcome="error") == 3
    assert grew("graphql_requests_total", operation="Rate", outcome="error") == 1
    assert grew("graphql_errors_total", code="BAD_USER_INPUT") == 3
    assert grew("graphql_errors_total", code="UNAUTHENTICATED") == 1
    # A page that executes finds the book and its (empty) page of reviews, counts them
    # (totalCount: an aggregate) and, for a viewer, finds the viewer's entry: 3 finds and an
    # aggregate with a token, 2 and one without; a cached page, a refused id and a refused
    # mutation cost nothing. A scrape counts the outbox (an aggregate) after it has read the
    # counters, so `before`'s shows in `after`.
    commands = {
        name: grew("mongodb_commands", command=name)
        for name in {dict(labels)["command"] for (n, labels) in after if n == "mongodb_commands"}
    }
    assert {name: n for name, n in commands.items() if n} == {
        "find": 3 * 3 + 2,
        "aggregate": 3 + 1 + 1,
    }


async def test_metrics_report_the_event_pipeline(cluster: Cluster, http: httpx.AsyncClient) -> None:
    """events_* gauges are read at scrape time: they follow the running worker. Expected
    figures come from Redis and MongoDB directly, not from the service's own status reader."""
    w, api = cluster.w, cluster.api_b
    book = w.catalog.book(0)

    async def idle() -> Samples | None:
        samples = await scrape(http, api)
        pending = value(samples, "events_pending", group=w.settings.consumer_group)
        return samples if await lag_zero(w) and pending == 0 else None

    applied_before = value(
        await eventually(idle, "an idle pipeline", *cluster.children), "events_applied"
    )
    tokens = [await sign_up(http, api) for _ in range(2)]
    for stars, token in enumerate(tokens, start=3):
        data_of(await post(http, api, RATE, {"b": book, "s": stars}, token))
    # An event that can never apply: the worker moves it to the dead letters.
    await w.redis.xadd(w.settings.stream_key, {"type": "no.such.type", "id": "ops-poison"})

    async def settled() -> Samples | None:
        if not await lag_zero(w):
            return None
        samples = await scrape(http, api)
        expected = {
            "events_dead_letters": 1.0,
            "events_outbox": float(await w.app.services.store.outbox.count_documents({})),
            "events_applied": applied_before + 2,  # the two ratings; the poison is not applied
            "events_stream_length": float(await w.redis.xlen(w.settings.stream_key)),
        }
        shown = {name: value(samples, name) for name in expected}
        # Per consumer group: the workers' is the stream's only one here.
        groups = {
            (name, dict(labels)["group"]): v
            for (name, labels), v in samples.items()
            if name in ("events_pending", "events_lag")
        }
        mine = w.settings.consumer_group
        if groups != {("events_pending", mine): 0.0, ("events_lag", mine): 0.0}:
            return None
        return samples if shown == expected else None

    await eventually(settled, "/metrics to show the worker's progress", *cluster.children)
    assert await w.redis.xlen(w.settings.dead_letter_stream) == 1


# --- logs -------------------------------------------------------------------------------------


def log_lines(child: Child) -> list[dict[str, Any]]:
    """Every line the process wrote, each of which must be a JSON object."""
    lines = []
    for line in child.output().splitlines():
        parsed = json.loads(line)
        assert isinstance(parsed, dict), line
        lines.append(parsed)
    return lines


async def logged_for(child: Child, request_id: str) -> list[dict[str, Any]]:
    async def lines() -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        return [line for line in log_lines(child) if line.get("request_id") == request_id]

    return await eventually(lines, f"log lines of request {request_id}", child)  # type: ignore[no-any-return]


async def test_error_responses_carry_the_request_id_of_their_log_lines(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    api = cluster.api_a
    response = await post(http, api, 'query Broken { book(id: "nope") { title } }')
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    request_id = body["extensions"]["requestId"]
    assert request_id and response.headers["x-request-id"] == request_id
    lines = await logged_for(api.child, request_id)
    assert any("POST /graphql" in line["message"] for line in lines)


async def test_an_internal_error_is_logged_with_its_trace_and_answered_with_its_id(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    """A document the code cannot read (a book without a title) is an INTERNAL_SERVER_ERROR:
    the client gets the request id only; the log line under that id has the traceback."""
    corrupt = ObjectId()
    await cluster.w.store.books.insert_one({"_id": corrupt, "genres": []})
    api = cluster.api_b
    response = await post(
        http,
        api,
        "query Corrupt($id: ID!) { book(id: $id) { title } }",
        {"id": to_global_id("Book", corrupt)},
    )
    body = response.json()
    [error] = body["errors"]
    request_id = response.headers["x-request-id"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert body["extensions"]["requestId"] == request_id
    assert error["message"] == f"internal error (request id {request_id})"
    assert "KeyError" not in response.text and "Traceback" not in response.text

    lines = await logged_for(api.child, request_id)
    [failure] = [line for line in lines if line["level"] == "ERROR"]
    assert request_id in failure["message"]
    assert "Traceback" in failure["exception"] and "KeyError" in failure["exception"]
    # Lines written outside any request carry no request id.
    assert any("request_id" not in line for line in log_lines(api.child))


# --- the response cache across processes ------------------------------------------------------


async def book_page(
    http: httpx.AsyncClient, api: ApiServer, book: str, token: str | None = None
) -> tuple[dict[str, Any], str | None]:
    """The page's `book` and the response's x-cache header."""
    response = await post(http, api, BOOK_PAGE, {"id": book}, token)
    return data_of(response)["book"], response.headers.get("x-cache")


async def test_anonymous_pages_are_shared_by_processes_and_never_older_than_the_worker(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    w, a, b = cluster.w, cluster.api_a, cluster.api_b
    book = w.catalog.book(1)  # this test's alone
    first, hit = await book_page(http, a, book)
    assert hit is None  # computed
    assert first["ratingStats"]["count"] == 0
    again, hit = await book_page(http, b, book)
    assert (again, hit) == (first, "hit")  # the other process's response, from Redis
    again, hit = await book_page(http, a, book)
    assert (again, hit) == (first, "hit")

    reader = await sign_up(http, a)
    data_of(await post(http, a, RATE, {"b": book, "s": 4}, reader))

    async def applied() -> bool:
        stored = await w.store.books.find_one({"_id": w.catalog.books[1]})
        return stored["rating_stats"]["count"] == 1 and await lag_zero(w)

    await eventually(applied, "the worker to apply the rating", *cluster.children)
    # The worker has written the figures and acknowledged the event: no process may answer
    # with the figures from before, cached or not.
    for api in (b, a):
        page, _ = await book_page(http, api, book)
        assert page["ratingStats"]["count"] == 1, page
        assert page["ratingStats"]["average"] == 4.0
        assert page["shelfCounts"]["read"] == 1
    page, hit = await book_page(http, b, book)
    assert hit == "hit" and page["ratingStats"]["count"] == 1


async def test_authenticated_responses_are_never_cached(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    a, b = cluster.api_a, cluster.api_b
    book = cluster.w.catalog.book(0)
    anonymous, _ = await book_page(http, a, book)
    _, hit = await book_page(http, b, book)
    assert hit == "hit" and anonymous["viewerReview"] is None  # an entry exists

    reader = await sign_up(http, a)
    data_of(await post(http, a, RATE, {"b": book, "s": 2}, reader))
    for api in (a, b, a):
        page, hit = await book_page(http, api, book, reader)
        assert hit is None
        assert page["viewerReview"] == {"rating": 2}
    # Nothing the viewer saw was stored for anonymous readers.
    for api in (a, b):
        page, _ = await book_page(http, api, book)
        assert page["viewerReview"] is None


# Per-book epochs: what one book's page shows of the others is the readers' figures only.
READERS_PAGE = """
query ReadersPage($id: ID!) {
  book(id: $id) {
    ratingStats { count }
    reviews(first: 5) { edges { node { text user { displayName reviewsCount } } } }
  }
}
"""
# The same page, plus each reader's own list of reviews (of any book): not scoped to the book.
READERS_SHELVES = """
query ReadersShelves($id: ID!) {
  book(id: $id) {
    ratingStats { count }
    reviews(first: 5) {
      edges { node { user { reviews(first: 5) { edges { node { rating } } } } } }
    }
  }
}
"""
WRITE_REVIEW = "mutation W($i: WriteReviewInput!) { writeReview(input: $i) { id } }"


async def new_books(w: World, count: int) -> list[ObjectId]:
    """Books of this test's own (the catalog's two are shared by the module's tests)."""
    books = [ObjectId() for _ in range(count)]
    docs = [{"_id": b, "title": f"Epoch {b}", "genres": [], "author_ids": []} for b in books]
    await w.store.books.insert_many(docs)
    return books


async def page(
    http: httpx.AsyncClient, api: ApiServer, query: str, book: ObjectId
) -> tuple[dict[str, Any], str | None]:
    response = await post(http, api, query, {"id": to_global_id("Book", book)})
    return data_of(response)["book"], response.headers.get("x-cache")


async def applied_to(cluster: Cluster, book: ObjectId, count: int) -> None:
    """Wait until the worker stored `count` ratings of `book` and acknowledged every event."""
    w = cluster.w

    async def applied() -> bool:
        stored = await w.store.books.find_one({"_id": book})
        return (stored.get("rating_stats") or {}).get("count") == count and await lag_zero(w)

    await eventually(applied, "the worker to apply the events", *cluster.children)


async def write_review(
    cluster: Cluster, http: httpx.AsyncClient, reader: str, book: ObjectId, rating: int = 2
) -> None:
    """A review with text and a rating, applied by the worker."""
    written = {"bookId": to_global_id("Book", book), "text": "Worth it.", "rating": rating}
    data_of(await post(http, cluster.api_a, WRITE_REVIEW, {"i": written}, reader))
    await applied_to(cluster, book, 1)


async def cached_page_of_a_new_reviewer(
    cluster: Cluster, http: httpx.AsyncClient, query: str, book: ObjectId
) -> tuple[str, dict[str, Any]]:
    """A new reader reviews `book`, whose page `query` is then cached: the reader's token and
    the page."""
    reader = await sign_up(http, cluster.api_a)
    await write_review(cluster, http, reader, book)
    shown, _ = await page(http, cluster.api_a, query, book)
    assert await page(http, cluster.api_a, query, book) == (shown, "hit")
    return reader, shown


async def test_a_rating_of_one_book_keeps_the_other_books_pages_cached(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    a, b = cluster.api_a, cluster.api_b
    rated, other = await new_books(cluster.w, 2)
    await eventually(lambda: lag_zero(cluster.w), "earlier events applied", *cluster.children)
    for book in (rated, other):
        await page(http, a, BOOK_PAGE, book)
        assert (await page(http, b, BOOK_PAGE, book))[1] == "hit"
    before, _ = await page(http, a, BOOK_PAGE, other)

    reader = await sign_up(http, a)
    data_of(await post(http, a, RATE, {"b": to_global_id("Book", rated), "s": 5}, reader))
    await applied_to(cluster, rated, 1)

    # The other book's entry is still fresh: served from the cache, as it was.
    for api in (a, b):
        assert await page(http, api, BOOK_PAGE, other) == (before, "hit")
    # The rated book's entry is stale: computed again, with the rating.
    fresh, hit = await page(http, b, BOOK_PAGE, rated)
    assert hit is None and fresh["ratingStats"]["count"] == 1 and fresh["shelfCounts"]["read"] == 1
    assert await page(http, a, BOOK_PAGE, rated) == (fresh, "hit")


async def test_a_review_refreshes_the_pages_of_other_books_that_show_its_reader(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    """A review with text changes its reader's reviewsCount, which every page listing one of
    their reviews shows: no book's cached page may keep the old count."""
    a = cluster.api_a
    first, second = await new_books(cluster.w, 2)
    reader, shown = await cached_page_of_a_new_reviewer(cluster, http, READERS_PAGE, first)
    assert shown["reviews"]["edges"][0]["node"]["user"]["reviewsCount"] == 1

    await write_review(cluster, http, reader, second)
    shown, hit = await page(http, a, READERS_PAGE, first)
    assert hit is None
    assert shown["reviews"]["edges"][0]["node"]["user"]["reviewsCount"] == 2


async def test_a_book_query_that_shows_other_books_entries_keeps_the_global_epoch(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    """A page listing its readers' reviews of any book is stale after a rating of another book
    by one of them."""
    a = cluster.api_a
    reviewed, rated = await new_books(cluster.w, 2)
    reader, shown = await cached_page_of_a_new_reviewer(cluster, http, READERS_SHELVES, reviewed)
    [reader_node] = shown["reviews"]["edges"]
    assert len(reader_node["node"]["user"]["reviews"]["edges"]) == 1

    data_of(await post(http, a, RATE, {"b": to_global_id("Book", rated), "s": 5}, reader))
    await applied_to(cluster, rated, 1)
    shown, hit = await page(http, a, READERS_SHELVES, reviewed)
    assert hit is None
    ratings = [
        e["node"]["rating"]
        for e in shown["reviews"]["edges"][0]["node"]["user"]["reviews"]["edges"]
    ]
    assert sorted(ratings) == [2, 5]


# --- persisted queries across processes -------------------------------------------------------


async def test_a_query_persisted_through_one_process_runs_by_hash_on_another(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    a, b = cluster.api_a, cluster.api_b
    book = cluster.w.catalog.book(0)
    # Unique to this test, so the response cache cannot answer for it.
    document = f"query Persisted($id: ID!) {{ book(id: $id) {{ title }} }} # {ObjectId()}"
    digest = hashlib.sha256(document.encode()).hexdigest()
    by_hash = {"persistedQuery": {"version": 1, "sha256Hash": digest}}

    unknown = (await post(http, b, None, {"id": book}, extensions=by_hash)).json()
    assert unknown["errors"][0]["message"] == "PersistedQueryNotFound"
    assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    registered = await post(http, a, document, {"id": book}, extensions=by_hash)
    assert data_of(registered)["book"] == {"title": "Book 0"}

    reader = await sign_up(http, a)  # authenticated: executed, not served from the cache
    on_b = await post(http, b, None, {"id": book}, reader, extensions=by_hash)
    assert data_of(on_b)["book"] == {"title": "Book 0"}
    # GET, as CDNs like it: the hash in the query string.
    params = {"variables": json.dumps({"id": book}), "extensions": json.dumps(by_hash)}
    response = await http.get(b.graphql_url, params=params)
    assert response.status_code == 200, response.text
    assert data_of(response)["book"] == {"title": "Book 0"}
