"""GraphQL over HTTP conventions (the GraphQL Foundation's spec) and error masking.

Requests go through httpx to the real ASGI app; internal errors are provoked for real by
storing malformed documents directly in MongoDB.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId

from service.ids import to_global_id
from tests.support.app import AppUnderTest, media_type

GRAPHQL_RESPONSE = "application/graphql-response+json"
CONTRACT_CODES = {
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "RATE_LIMITED",
    "SERVICE_UNAVAILABLE",
    "PERSISTED_QUERY_NOT_FOUND",
    "INTERNAL_SERVER_ERROR",
}


async def post(
    app: AppUnderTest,
    query: str,
    variables: dict[str, Any] | None = None,
    accept: str | None = None,
) -> httpx.Response:
    headers = {"accept": accept} if accept else {}
    return await app.client.post(query, variables, headers=headers)


def assert_codes(body: dict[str, Any]) -> None:
    assert body["errors"], body
    for error in body["errors"]:
        assert error["extensions"]["code"] in CONTRACT_CODES, error


# --- GET ---------------------------------------------------------------------------------


async def test_get_runs_a_query(app: AppUnderTest) -> None:
    await app.services.store.books.insert_one(
        {"_id": ObjectId(), "title": "The Dance of Anger", "genres": [], "author_ids": []}
    )
    response = await app.client.http.get(
        "/graphql", params={"query": "{ books { totalCount edges { node { title } } } }"}
    )
    assert response.status_code == 200
    assert media_type(response) == "application/json"
    assert response.json() == {
        "data": {"books": {"totalCount": 1, "edges": [{"node": {"title": "The Dance of Anger"}}]}}
    }


async def test_get_runs_a_query_with_variables_and_operation_name(app: AppUnderTest) -> None:
    response = await app.client.http.get(
        "/graphql",
        params={
            "query": "query A { viewer { id } } query B($u: String!) { user(username: $u) { id } }",
            "operationName": "B",
            "variables": json.dumps({"u": "nobody"}),
        },
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json() == {"data": {"user": None}}


async def test_get_refuses_a_mutation_without_running_it(app: AppUnderTest) -> None:
    mutation = (
        'mutation { signUp(input: {username: "via_get", password: "long-enough-pw"}) { token } }'
    )
    for accept in (None, GRAPHQL_RESPONSE):
        response = await app.client.http.get(
            "/graphql", params={"query": mutation}, headers={"accept": accept} if accept else {}
        )
        # GraphQL over HTTP: "the server MUST respond with error status code 405 (Method Not
        # Allowed) and halt execution".
        assert response.status_code == 405, response.text
        assert "GET" in response.headers.get("allow", "")
        assert "POST" in response.headers.get("allow", "")
    assert await app.services.store.users.count_documents({}) == 0
    # The same mutation by POST works.
    ok = await app.client.post(mutation)
    assert ok.status_code == 200
    assert "token" in ok.json()["data"]["signUp"]
    assert await app.services.store.users.count_documents({}) == 1


async def test_graphiql_is_served_to_browsers(app: AppUnderTest) -> None:
    response = await app.client.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert media_type(response) == "text/html"
    assert "graphiql" in response.text.lower()
    assert "<html" in response.text.lower()


async def test_healthz(app: AppUnderTest) -> None:
    response = await app.client.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_methods_other_than_get_and_post_are_refused(app: AppUnderTest) -> None:
    response = await app.client.http.put("/graphql", json={"query": "{ viewer { id } }"})
    assert response.status_code == 405


async def test_a_body_that_is_not_json_is_a_bad_request(app: AppUnderTest) -> None:
    response = await app.client.http.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_post_that_is_not_json_is_415_with_a_json_error(
    app: AppUnderTest, content_type: str | None
) -> None:
    query = (
        'mutation { signUp(input: {username: "no_type", password: "long-enough-pw"}) { token } }'
    )
    mutation = json.dumps({"query": query}).encode()
    headers = {"content-type": content_type} if content_type else {}
    response = await app.client.http.post("/graphql", content=mutation, headers=headers)
    assert response.status_code == 415, response.text
    assert media_type(response) == "application/json"
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert error["message"].startswith("send the request as JSON: Content-Type: application/json")
    assert await app.services.store.users.count_documents({}) == 0
    # The same body as JSON runs.
    ran = await app.client.http.post(
        "/graphql", content=mutation, headers={"content-type": "application/json"}
    )
    assert ran.json()["data"]["signUp"]["token"]


CACHED_QUERY = json.dumps({"query": "{ books(first: 3) { totalCount } }"}).encode()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-content-type"),
        pytest.param({"content-type": "text/plain"}, id="text-plain"),
        pytest.param({"content-type": "application/x-www-form-urlencoded"}, id="form"),
        pytest.param({"content-type": "multipart/form-data; boundary=x"}, id="multipart"),
    ],
)
async def test_a_cached_query_is_refused_as_a_miss_would_be(
    app: AppUnderTest, headers: dict[str, str]
) -> None:
    # The anonymous response cache answers only requests that a miss would have run.
    http = app.client.http
    json_type = {"content-type": "application/json"}
    assert (await http.post("/graphql", content=CACHED_QUERY, headers=json_type)).status_code == 200
    hit = await http.post("/graphql", content=CACHED_QUERY, headers=json_type)
    assert hit.headers.get("x-cache") == "hit"
    refused = await http.post("/graphql", content=CACHED_QUERY, headers=headers)
    assert refused.status_code == 415, refused.text
    assert "x-cache" not in refused.headers
    assert refused.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}


# --- request errors: application/graphql-response+json vs application/json ------------

REQUEST_ERRORS = [
    pytest.param("{ books { ", None, id="syntax"),
    pytest.param("{ books { nope } }", None, id="unknown-field"),
    pytest.param("{ book { title } }", None, id="missing-argument"),
    pytest.param("query($id: ID!) { book(id: $id) { title } }", {}, id="missing-variable"),
    pytest.param(
        "query($f: Int) { books(first: $f) { totalCount } }", {"f": "abc"}, id="variable-type"
    ),
    pytest.param(
        "query($s: [Int!]) { books { edges { node { reviews(stars: $s) { totalCount } } } } }",
        {"s": [1, None]},
        id="variable-null-in-list",
    ),
    pytest.param(
        "query($sort: ReviewSort) { books { totalCount } }", {"sort": "BEST"}, id="variable-enum"
    ),
]


@pytest.mark.parametrize(("query", "variables"), REQUEST_ERRORS)
async def test_request_errors_are_400_without_data_with_graphql_response_json(
    app: AppUnderTest, query: str, variables: dict[str, Any] | None
) -> None:
    response = await post(app, query, variables, accept=GRAPHQL_RESPONSE)
    assert response.status_code == 400, response.text
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert_codes(body)
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}


@pytest.mark.parametrize(("query", "variables"), REQUEST_ERRORS)
async def test_request_errors_are_200_with_errors_with_plain_json(
    app: AppUnderTest, query: str, variables: dict[str, Any] | None
) -> None:
    response = await post(app, query, variables, accept="application/json")
    assert response.status_code == 200, response.text
    assert media_type(response) == "application/json"
    body = response.json()
    assert "data" not in body
    assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}


async def test_without_accept_header_the_response_is_plain_json(app: AppUnderTest) -> None:
    response = await app.client.http.post("/graphql", json={"query": "{ books { "})
    assert response.status_code == 200
    assert media_type(response) == "application/json"


async def test_a_good_query_with_graphql_response_json(app: AppUnderTest) -> None:
    response = await post(app, "{ viewer { id } }", accept=GRAPHQL_RESPONSE)
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json() == {"data": {"viewer": None}}


async def test_field_errors_keep_200_and_data_with_graphql_response_json(
    app: AppUnderTest,
) -> None:
    # The document is valid; a resolver refuses an argument: a field error, with partial data.
    response = await post(
        app,
        "query($id: ID!) { viewer { id } book(id: $id) { title } }",
        {"id": "not-an-id"},
        accept=GRAPHQL_RESPONSE,
    )
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert body["data"] == {"viewer": None, "book": None}
    assert body["errors"][0]["path"] == ["book"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_every_error_carries_a_contract_code(app: AppUnderTest) -> None:
    missing_book = to_global_id("Book", ObjectId())
    cases: list[tuple[str, dict[str, Any] | None]] = [
        ("{ books { ", None),
        ("{ nope }", None),
        ("query($f: Int) { books(first: $f) { totalCount } }", {"f": 1.5}),
        ("{ books(first: 0) { totalCount } }", None),
        ('{ node(id: "garbage") { id } }', None),
        ('mutation { likeReview(reviewId: "x") { id } }', None),
        ("mutation($b: ID!) { rateBook(bookId: $b, stars: 5) { id } }", {"b": missing_book}),
        ('mutation { logIn(username: "nobody", password: "wrong-password") { token } }', None),
    ]
    for query, variables in cases:
        body = (await post(app, query, variables)).json()
        assert_codes(body)


# --- masked internal errors --------------------------------------------------------------

LEAK_MARKERS = (
    "Traceback",
    "KeyError",
    "AttributeError",
    "TypeError",
    "isoformat",
    "'title'",
    "object has no attribute",
    "pymongo",
    "bson",
    'File "',
    ".py",
)


def assert_masked(body: dict[str, Any]) -> str:
    """The single internal error of `body`, checked to reveal nothing; its request id."""
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    request_id = error["extensions"]["requestId"]
    assert request_id
    assert set(error["extensions"]) == {"code", "requestId"}
    assert body["extensions"]["requestId"] == request_id
    text = json.dumps(body)
    for marker in LEAK_MARKERS:
        assert marker not in text, f"{marker!r} leaked: {text}"
    return str(request_id)


async def test_a_review_with_a_malformed_date_is_a_masked_internal_error(
    app: AppUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    store = app.services.store
    book_id, user_id, review_id = ObjectId(), ObjectId(), ObjectId()
    await store.books.insert_one({"_id": book_id, "title": "Fine", "genres": [], "author_ids": []})
    await store.users.insert_one(
        {"_id": user_id, "username": "fine", "username_key": "fine", "display_name": "Fine"}
    )
    await store.reviews.insert_one(
        {
            "_id": review_id,
            "user_id": user_id,
            "book_id": book_id,
            "shelf": "READ",
            "rating": 4,
            "text": "A review whose date went wrong",
            "has_text": True,
            "spoiler": False,
            "created_at": "26/03/2011",  # a string where a date belongs
            "updated_at": datetime(2011, 3, 26, tzinfo=UTC),
            "likes_count": 0,
            "comments_count": 0,
        }
    )
    query = "query($id: ID!) { review(id: $id) { id text createdAt } }"
    with caplog.at_level(logging.ERROR, logger="bookservice.errors"):
        response = await post(
            app, query, {"id": to_global_id("Review", review_id)}, accept=GRAPHQL_RESPONSE
        )
    assert response.status_code == 200  # a field error: execution ran
    body = response.json()
    assert body["data"] == {"review": None}
    request_id = assert_masked(body)
    assert request_id in body["errors"][0]["message"]
    # The details went to the log, under the same request id.
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None

    # Through the book's list the same review is masked too (createdAt is non-null, so the
    # null reaches the nullable `book`).
    page = await post(
        app,
        "query($id: ID!) { book(id: $id) { title reviews { edges { node { text createdAt } } } } }",
        {"id": to_global_id("Book", book_id)},
    )
    page_body = page.json()
    assert page_body["data"] == {"book": None}
    assert page_body["errors"][0]["path"][:2] == ["book", "reviews"]
    assert_masked(page_body)


async def test_a_book_missing_its_title_is_a_masked_internal_error(app: AppUnderTest) -> None:
    book_id = ObjectId()
    await app.services.store.books.insert_one({"_id": book_id, "genres": [], "author_ids": []})
    response = await post(
        app, "query($id: ID!) { book(id: $id) { title } }", {"id": to_global_id("Book", book_id)}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"book": None}
    assert_masked(body)

    # Listing books reaches the same document: the list is masked too, not leaked.
    listing = (await post(app, "{ books { edges { node { id title } } } }")).json()
    assert_masked(listing)


async def test_a_query_sent_again_answers_the_same_once_compiled_and_run_directly(
    app: AppUnderTest,
) -> None:
    """The first execution of a document is planned, the second compiled, the later ones skip
    Strawberry's extension runner (schema.direct): data, errors, masking and status alike."""
    good, broken = ObjectId(), ObjectId()
    store = app.services.store
    await store.books.insert_one({"_id": good, "title": "Twice", "genres": ["x"], "author_ids": []})
    await store.books.insert_one({"_id": broken, "genres": [], "author_ids": []})
    query = "query Page($id: ID!) { book(id: $id) { title genres } }"

    async def answers(variables: dict[str, Any]) -> list[tuple[int, Any]]:
        seen = []
        for _ in range(4):
            response = await post(app, query, variables, accept=GRAPHQL_RESPONSE)
            body = response.json()
            for error in body.get("errors", []):
                request_id = error["extensions"].pop("requestId", None)
                error["message"] = error["message"].replace(str(request_id), "ID")
            body.get("extensions", {}).pop("requestId", None)
            seen.append((response.status_code, body))
        return seen

    ok = await answers({"id": to_global_id("Book", good)})
    assert ok == [(200, {"data": {"book": {"title": "Twice", "genres": ["x"]}}})] * 4
    masked = await answers({"id": to_global_id("Book", broken)})
    assert masked[0][1]["data"] == {"book": None}
    assert masked[0][1]["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert masked == [masked[0]] * 4
    refused = await answers({"id": [7]})  # a variable of the wrong type: a request error
    assert refused[0][0] == 400 and "data" not in refused[0][1]
    assert refused == [refused[0]] * 4
    not_found = await answers({"id": to_global_id("Book", ObjectId())})
    assert not_found == [not_found[0]] * 4


async def test_each_request_gets_its_own_request_id(app: AppUnderTest) -> None:
    book_id = ObjectId()
    await app.services.store.books.insert_one({"_id": book_id, "genres": [], "author_ids": []})
    query = "query($id: ID!) { book(id: $id) { title } }"
    ids = set()
    for _ in range(3):
        body = (await post(app, query, {"id": to_global_id("Book", book_id)})).json()
        ids.add(assert_masked(body))
    assert len(ids) == 3
