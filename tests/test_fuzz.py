"""Fuzzing the API over the contract: no input may produce a 500 or an unhandled error.

Three generators, each sent through GraphQL over HTTP to the real app (MongoDB and Redis,
nothing mocked):
- hypothesis-graphql (what schemathesis' GraphQL mode runs on) builds documents from
  contract/schema.graphql, both valid ones with random literals and invalid ones (missing
  arguments, wrong types); ids are drawn from real ones half of the time;
- a generator of our own sends every argument of the contract as a variable holding random
  JSON: unicode and control characters, huge and negative integers, floats, nulls, lists and
  objects with `$` keys;
- random request bodies and GET query strings.

Every response must be 200, 400, 405 or 413; a JSON body's errors must each carry a contract
code other than INTERNAL_SERVER_ERROR, and no traceback. The ASGI transport re-raises any
exception that escapes the app, so an unhandled error fails the example outright.
Examples are derandomized (the same ones every run): about 1,400 in all, some 25 s.
"""

import json
import string
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import GraphQLObjectType, build_schema
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from devtools.embedded import Servers
from tests.support.app import AppUnderTest, app_settings, running_app
from tests.support.documents import gid, insert_author, insert_book, quick_user
from tests.support.fuzzing import FUZZ
from tests.support.operations import COMMENT, write_review

CONTRACT = Path(__file__).resolve().parents[1] / "contract" / "schema.graphql"
GRAPHQL_RESPONSE = "application/graphql-response+json"
ALLOWED_CODES = {
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "RATE_LIMITED",
    "SERVICE_UNAVAILABLE",
    "PERSISTED_QUERY_NOT_FOUND",
}
LEAKS = ("Traceback", 'File "', "pymongo", "bson.errors", "KeyError", "AttributeError")

# Filled by the `fuzzed` fixture before any example is drawn (strategies read them lazily).
KNOWN: dict[str, list[str]] = {}
TOKENS: list[str | None] = [None, "garbage.token.here"]


@dataclass
class Fuzzed:
    app: AppUnderTest

    async def send(
        self, body: Any, token: str | None, accept: str = GRAPHQL_RESPONSE
    ) -> httpx.Response:
        headers = {"accept": accept}
        if token:
            headers["authorization"] = f"Bearer {token}"
        return await self.app.client.http.post("/graphql", json=body, headers=headers)


@pytest.fixture(scope="module")
async def fuzzed(servers: Servers) -> AsyncIterator[Fuzzed]:
    async with running_app(app_settings(servers.mongodb_url, servers.redis_url)) as app:
        gql = app.client
        book = await insert_book(app, "Fuzzed Book")
        author = await insert_author(app)
        token, user = await quick_user(app, "fuzz_user")
        other, _ = await quick_user(app, "fuzz_other")
        review = await write_review(gql, token, book, "Words to fuzz.", rating=3)
        await write_review(gql, other, book, "More words.", rating=5)
        comment = await gql.data(COMMENT, {"r": review["id"], "t": "A comment"}, other)
        page = await gql.data(
            "query($b: ID!) { book(id: $b) { reviews(first: 1) { pageInfo { endCursor } } } }",
            {"b": gid("Book", book)},
        )
        KNOWN.update(
            Book=[gid("Book", book)],
            Author=[gid("Author", author)],
            User=[user],
            Review=[review["id"]],
            Comment=[comment["addComment"]["id"]],
            cursor=[page["book"]["reviews"]["pageInfo"]["endCursor"]],
        )
        TOKENS[:] = [None, "garbage.token.here", token, other]
        yield Fuzzed(app)


def assert_handled(response: httpx.Response) -> None:
    """Never a 500, never an unexpected code, never a leak."""
    assert response.status_code in (200, 400, 405, 413, 415), (response.status_code, response.text)
    for leak in LEAKS:
        assert leak not in response.text, response.text
    # Refusals before execution are GraphQL-shaped JSON too, so every client can read them.
    media = response.headers.get("content-type", "").split(";")[0]
    assert media in ("application/json", GRAPHQL_RESPONSE), response.headers
    body = response.json()
    results = body if isinstance(body, list) else [body]
    for result in results:
        for error in result.get("errors", []):
            code = error.get("extensions", {}).get("code")
            assert code in ALLOWED_CODES, error


TEXT = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40),
    st.text(alphabet=string.punctuation + " \t\n\u0000\u0085", min_size=1, max_size=8),
    st.sampled_from(['{"$gt": ""}', '{"$where": "sleep(1000)"}', "$where", "a.b.$c", "-x", '"']),
)
tokens = st.deferred(lambda: st.sampled_from(TOKENS))


def known(kind: str) -> st.SearchStrategy[str]:
    """A real id or cursor of `kind`, read when drawn (the fixture fills KNOWN)."""
    return st.deferred(lambda: st.sampled_from(KNOWN[kind]))


ANY_ID = st.one_of(*(known(kind) for kind in ("Book", "Author", "User", "Review", "Comment")))


# --- 1. documents generated from the contract (hypothesis-graphql) -------------------------

SCALARS = {
    "ID": st.one_of(ANY_ID, TEXT).map(nodes.String),
    "DateTime": st.sampled_from(["2011-03-26T00:00:00Z", "x"]).map(nodes.String),
    "Date": st.sampled_from(["1989-01-01", "1989-13-45"]).map(nodes.String),
}
CONTRACT_SDL = CONTRACT.read_text()
DOCUMENTS = st.one_of(
    from_schema(CONTRACT_SDL, custom_scalars=SCALARS, mode=Mode.POSITIVE),
    from_schema(CONTRACT_SDL, custom_scalars=SCALARS, mode=Mode.NEGATIVE),
)


@pytest.mark.slow
@FUZZ
@given(document=DOCUMENTS, token=tokens)
async def test_documents_generated_from_the_contract(
    fuzzed: Fuzzed, document: str, token: str | None
) -> None:
    assert_handled(await fuzzed.send({"query": document}, token))


# --- 2. every argument as a variable holding random JSON ------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.sampled_from(["$gt", "$where", "a.b.$c", "\u0000", "\u009b", "READ", "NEWEST", "", " "]),
)
HOSTILE_JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["$gt", "$ne", "$where", "bookId", "text", "x"]), inner),
    ),
    max_leaves=8,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, strategy, strategy, st.none())


# Values a variable of each role takes when it is not the one being fuzzed: valid ones, so
# that the fuzzed variable reaches its resolver.
VALID: dict[str, st.SearchStrategy[Any]] = {
    "book": known("Book"),
    "author": known("Author"),
    "user": known("User"),
    "review": known("Review"),
    "comment": known("Comment"),
    "first": maybe(st.integers(1, 100)),
    "after": maybe(known("cursor")),
    "search": maybe(st.sampled_from(["words", "fuzz", "more words"])),
    "stars": maybe(st.lists(st.integers(1, 5), max_size=5)),
    "sort": maybe(st.sampled_from(["POPULAR", "NEWEST", "OLDEST"])),
    "shelf": maybe(st.sampled_from(["WANT_TO_READ", "CURRENTLY_READING", "READ"])),
    "username": st.sampled_from(["fuzz_user", "fuzz_other", "nobody"]),
    "password": st.just("long-enough-password"),
    "rating": st.integers(1, 5),
    "text": st.just("Fuzzed words."),
    "signup": st.fixed_dictionaries(
        {"username": st.from_regex(r"\Afz[a-z0-9]{6}\Z"), "password": st.just("long-enough")}
    ),
    "review_input": st.fixed_dictionaries(
        {"bookId": known("Book"), "text": st.just("Fuzzed review.")},
        optional={"rating": st.integers(1, 5), "spoiler": st.booleans()},
    ),
}
# ... and when it is: anything of its type (near the rules' edges), or any JSON at all.
INTS = st.one_of(st.integers(-2, 7), st.integers(95, 105), st.integers(-(2**31), 2**31 - 1))
WILD: dict[str, st.SearchStrategy[Any]] = {
    **dict.fromkeys(("book", "author", "user", "review", "comment"), st.one_of(ANY_ID, TEXT)),
    "first": INTS,
    "after": st.one_of(known("cursor"), TEXT),
    "search": TEXT,
    "stars": st.lists(INTS, max_size=6),
    "sort": st.one_of(TEXT, st.sampled_from(["POPULAR", "popular", "BEST"])),
    "shelf": st.one_of(TEXT, st.sampled_from(["READ", "read", "FINISHED"])),
    "username": TEXT,
    "password": TEXT,
    "rating": INTS,
    "text": st.one_of(TEXT, st.text(max_size=300)),
    "signup": st.fixed_dictionaries(
        {"username": TEXT, "password": TEXT}, optional={"displayName": TEXT}
    ),
    "review_input": st.fixed_dictionaries(
        {"bookId": st.one_of(ANY_ID, TEXT), "text": TEXT},
        optional={"rating": INTS, "spoiler": st.booleans()},
    ),
}


# Every field with arguments, each argument a variable: (document, {variable: role}).
OPERATIONS: list[tuple[str, dict[str, str]]] = [
    ("query($v: ID!) { node(id: $v) { id } }", {"v": "book"}),
    ("query($v: ID!) { book(id: $v) { title } }", {"v": "book"}),
    (
        "query($s: String, $f: Int, $a: String) { books(search: $s, first: $f, after: $a)"
        " { totalCount edges { cursor node { id } } } }",
        {"s": "search", "f": "first", "a": "after"},
    ),
    ("query($v: ID!) { author(id: $v) { name } }", {"v": "author"}),
    ("query($u: String!) { user(username: $u) { id } }", {"u": "username"}),
    ("query($v: ID!) { review(id: $v) { text } }", {"v": "review"}),
    (
        "query($v: ID!, $f: Int, $a: String, $o: ReviewSort, $st: [Int!], $s: String)"
        " { book(id: $v) { reviews(first: $f, after: $a, sort: $o, stars: $st, search: $s)"
        " { totalCount edges { cursor node { id rating } } } } }",
        {"v": "book", "f": "first", "a": "after", "o": "sort", "st": "stars", "s": "search"},
    ),
    (
        "query($v: ID!, $f: Int, $a: String) { book(id: $v)"
        " { friendsReviews(first: $f, after: $a) { totalCount } } }",
        {"v": "book", "f": "first", "a": "after"},
    ),
    (
        "query($v: ID!, $f: Int, $a: String) { author(id: $v)"
        " { books(first: $f, after: $a) { totalCount } } }",
        {"v": "author", "f": "first", "a": "after"},
    ),
    (
        "query($u: String!, $f: Int, $a: String, $sh: Shelf) { user(username: $u)"
        " { reviews(first: $f, after: $a, shelf: $sh) { totalCount } } }",
        {"u": "username", "f": "first", "a": "after", "sh": "shelf"},
    ),
    (
        "query($v: ID!, $f: Int, $a: String) { review(id: $v)"
        " { comments(first: $f, after: $a) { totalCount } } }",
        {"v": "review", "f": "first", "a": "after"},
    ),
    ("mutation($i: SignUpInput!) { signUp(input: $i) { token } }", {"i": "signup"}),
    (
        "mutation($u: String!, $p: String!) { logIn(username: $u, password: $p) { token } }",
        {"u": "username", "p": "password"},
    ),
    (
        "mutation($v: ID!, $s: Int!) { rateBook(bookId: $v, stars: $s) { id } }",
        {"v": "book", "s": "rating"},
    ),
    ("mutation($v: ID!) { clearRating(bookId: $v) { id } }", {"v": "book"}),
    (
        "mutation($v: ID!, $s: Shelf) { setShelf(bookId: $v, shelf: $s) { id } }",
        {"v": "book", "s": "shelf"},
    ),
    ("mutation($i: WriteReviewInput!) { writeReview(input: $i) { id } }", {"i": "review_input"}),
    ("mutation($v: ID!) { deleteReview(id: $v) }", {"v": "review"}),
    ("mutation($v: ID!) { likeReview(reviewId: $v) { id } }", {"v": "review"}),
    ("mutation($v: ID!) { unlikeReview(reviewId: $v) { id } }", {"v": "review"}),
    (
        "mutation($v: ID!, $t: String!) { addComment(reviewId: $v, text: $t) { id } }",
        {"v": "review", "t": "text"},
    ),
    ("mutation($v: ID!) { deleteComment(id: $v) }", {"v": "comment"}),
    ("mutation($v: ID!) { followUser(userId: $v) { id } }", {"v": "user"}),
    ("mutation($v: ID!) { unfollowUser(userId: $v) { id } }", {"v": "user"}),
    ("mutation($v: ID!) { followAuthor(authorId: $v) { id } }", {"v": "author"}),
    ("mutation($v: ID!) { unfollowAuthor(authorId: $v) { id } }", {"v": "author"}),
]


def requests_with_variables() -> st.SearchStrategy[dict[str, Any]]:
    """One operation; one of its variables (the focus) may hold anything, the others hold
    valid values, so that the focus usually gets past coercion and into its resolver."""

    def one(operation: tuple[str, dict[str, str]]) -> st.SearchStrategy[dict[str, Any]]:
        document, roles = operation

        def around(focus: str) -> st.SearchStrategy[dict[str, Any]]:
            values = {
                name: st.one_of(WILD[role], HOSTILE_JSON) if name == focus else VALID[role]
                for name, role in roles.items()
            }
            return st.fixed_dictionaries(values).map(
                lambda variables: {"query": document, "variables": variables}
            )

        return st.sampled_from(list(roles)).flatmap(around)

    return st.sampled_from(OPERATIONS).flatmap(one)


@pytest.mark.slow
@settings(FUZZ, max_examples=800)
@given(request=requests_with_variables(), token=tokens)
async def test_every_argument_with_random_variables(
    fuzzed: Fuzzed, request: dict[str, Any], token: str | None
) -> None:
    assert_handled(await fuzzed.send(request, token))


def test_the_operations_cover_every_argument_of_the_contract() -> None:
    schema = build_schema(CONTRACT.read_text())
    for type_name in ("Query", "Mutation", "Book", "Author", "User", "Review"):
        object_type = schema.get_type(type_name)
        assert isinstance(object_type, GraphQLObjectType)
        for field_name, field in object_type.fields.items():
            for arg in field.args:
                assert any(
                    f"{field_name}(" in document and f"{arg}: $" in document
                    for document, _ in OPERATIONS
                ), f"{type_name}.{field_name}({arg})"


# --- 3. random bodies and query strings -----------------------------------------------------

REQUEST_KEYS = st.sampled_from(["query", "variables", "operationName", "extensions", "x"])
REQUEST_LIKE = st.dictionaries(
    REQUEST_KEYS,
    st.one_of(
        HOSTILE_JSON,
        st.sampled_from(
            [
                "{ viewer { id } }",
                "{ books { totalCount } }",
                'mutation { clearRating(bookId: "x") { id } }',
                'subscription { bookStatsChanged(bookId: "x") { id } }',
                "{ ...F }",
                "query Q { __typename }",
            ]
        ),
        st.fixed_dictionaries({"persistedQuery": st.fixed_dictionaries({"sha256Hash": TEXT})}),
    ),
)
BODIES = st.one_of(
    st.binary(max_size=200),
    HOSTILE_JSON.map(lambda value: json.dumps(value).encode()),
    REQUEST_LIKE.map(lambda value: json.dumps(value).encode()),
    st.lists(REQUEST_LIKE, max_size=7).map(lambda value: json.dumps(value).encode()),
)


@pytest.mark.slow
@FUZZ
@given(body=BODIES, content_type=st.sampled_from(["application/json", "text/plain", ""]))
async def test_random_bodies(fuzzed: Fuzzed, body: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await fuzzed.app.client.http.post("/graphql", content=body, headers=headers)
    assert_handled(response)


@pytest.mark.slow
@settings(FUZZ, max_examples=100)
@given(params=st.dictionaries(REQUEST_KEYS, TEXT, max_size=4), html=st.booleans())
async def test_random_query_strings(fuzzed: Fuzzed, params: dict[str, str], html: bool) -> None:
    accept = "text/html" if html else "application/json"
    response = await fuzzed.app.client.http.get(
        "/graphql", params=params, headers={"accept": accept}
    )
    if response.headers.get("content-type", "").startswith("text/html"):
        assert response.status_code == 200  # GraphiQL
        return
    assert_handled(response)
