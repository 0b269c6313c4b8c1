"""Every execution strategy (Settings.execution) against graphql-core's stock execution, on the
production schema: the same requests must give the same HTTP status, data and errors (message,
locations, path, extensions), in the same order.

One database is seeded once for the module: the demo data set (reconciled), a viewer with a
rating, a review, likes, a comment and follows, and a few malformed documents (a book without
a title, values of the wrong type, a review whose reader is gone, figures that cannot be
computed) so that error paths and null propagation are compared too. One app per strategy
serves that database; each request goes to every app over GraphQL over HTTP, anonymously and
as the viewer. Compared are:

- the book page (the command-count query and the benchmark's, at 10, 30 and 100 reviews) of
  the demo book and of each malformed book;
- every query of the README (read out of the README, so a new example is compared too);
- hand-written queries over the rest of the schema: fragments, aliases, directives, abstract
  types, introspection, invalid documents and variables;
- documents generated from the contract by hypothesis-graphql (derandomized), ids drawn from
  the seeded ones;
- a scenario of mutations with rich payload selections (figures computed in the payload,
  nested connections, errors), run by each strategy on its own copy of the database. The
  copies differ only in what a write generates (new ids, timestamps, tokens, cursors holding
  them): such values may differ between copies, new ids only one to one (check_generated).

Request ids are the only thing taken out of the responses before comparing. What the service
logs about an error it hides from clients (an internal error's exception) is compared too.
"""

import base64
import logging
import re
import typing
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries

from bench.queries import BOOK_PAGE
from devtools.demo.loader import load_demo
from devtools.embedded import Servers
from schema.compiled import is_compiled, runs_as_program
from schema.compiled import log as compiled_log
from schema.errors import log as errors_log
from schema.http.endpoint import GraphQLEndpoint
from service.ids import parse_global_id, to_global_id
from service.settings import Settings
from tests.support.app import DEMO_TEST_SCALE, AppUnderTest, app_settings, running_app
from tests.support.documents import review_doc, user_doc
from tests.support.fuzzing import FUZZ
from tests.support.operations import BOOK_PAGE_QUERY
from workers.reconcile import reconcile

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONTRACT_SDL = (ROOT / "contract" / "schema.graphql").read_text()
REFERENCE = "stock"
STRATEGIES = typing.get_args(Settings.model_fields["execution"].annotation)
OTHERS = [s for s in STRATEGIES if s != REFERENCE]
# Every request goes three times to each strategy but the reference: the compiled execution
# runs a document planned first, compiled through graphql-core the second time, and as one
# program (schema.compiled_operation) from the third on.
RUNS = (" (first run)", " (second run)", "")
T0 = datetime(2021, 6, 1, tzinfo=UTC)


def test_the_strategies_include_the_reference() -> None:
    assert REFERENCE in STRATEGIES and OTHERS, STRATEGIES


# --- the seeded world ---------------------------------------------------------------------


@dataclass
class World:
    db: str
    viewer_token: str
    ids: dict[str, str]  # role -> global id
    usernames: list[str]
    seed_oids: set[ObjectId] = field(default_factory=set)
    seeded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def gid(type_name: str, oid: ObjectId) -> str:
    return to_global_id(type_name, oid)


def broken_book(title: str | None, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": ObjectId(),
        "title": title,
        "subtitle": None,
        "description": "Malformed on purpose.",
        "page_count": 120,
        "format": "Paperback",
        "isbn13": None,
        "first_published": "2001-02-03",
        "cover_url": None,
        "genres": ["Test"],
        "author_ids": [],
        "rating_stats": {"counts": [0, 0, 1, 1, 0], "count": 2, "sum": 7, "updated_at": T0},
        "shelf_counts": {"want_to_read": 1, "currently_reading": 0, "read": 2},
        "reviews_count": 3,
        **fields,
    }
    if title is None:
        del doc["title"]
    return doc


async def seed_malformed(app: AppUnderTest, author_id: ObjectId) -> dict[str, str]:
    """Books, reviews and users whose values the schema cannot serve as they are."""
    db = app.services.store.db
    wrong_scalars = broken_book(
        "Wrong Scalars",
        author_ids=[author_id],
        page_count="255",  # a string in an Int: error, pageCount null
        isbn13=9780060916466,  # an int in a String: coerced
        format=True,  # a bool in a String: coerced
        subtitle=2.5,
    )
    untitled = broken_book(None)  # Book.of fails: the whole book is an error
    null_genre = broken_book("Null Genre", genres=["Fiction", None])  # [String!]! with a null
    bad_figures = broken_book(
        "Bad Figures",
        rating_stats={"counts": [1, 2], "count": 3, "sum": 5},  # ratingStats cannot be built
    )
    bad_shelves = broken_book(
        "Bad Shelves", shelf_counts={"want_to_read": "many", "currently_reading": 2**40}
    )
    bad_reviews = broken_book("Bad Reviews", author_ids=[author_id])
    unreadable_review = broken_book("Unreadable Review")
    odd_entries = broken_book("Odd Entries")  # a shelf no one knows, a reader without a name
    books = [wrong_scalars, untitled, null_genre, bad_figures, bad_shelves, bad_reviews]
    await db.books.insert_many([*books, unreadable_review, odd_entries])

    odd_name = user_doc("odd_name", T0, display_name=42)  # an int in a String!: coerced
    odd_figures = user_doc("odd_figures", T0, followers_count=1.5)  # Int! error: user null
    plain = user_doc("plain_reader", T0, bio="Reads malformed books.")
    gone = ObjectId()  # a reader without a user document
    await db.users.insert_many([odd_name, odd_figures, plain])
    bad = bad_reviews["_id"]
    reviews = [
        review_doc(plain["_id"], bad, T0, text="A fine review.", rating=4, likes_count=3),
        review_doc(gone, bad, T0 + timedelta(hours=1), text="By nobody.", likes_count=2),
        review_doc(odd_name["_id"], bad, T0 + timedelta(hours=2), text="Odd name.", rating=5),
        review_doc(odd_figures["_id"], bad, T0 + timedelta(hours=3), text="Odd figures."),
        {
            **review_doc(plain["_id"], wrong_scalars["_id"], T0, text="Figures gone.", rating=3),
            "likes_count": None,  # Int! null: the review is null, and so its list
        },
        {
            **review_doc(odd_name["_id"], wrong_scalars["_id"], T0, text="Strings.", rating=2),
            "rating": "5",  # a string in an Int: rating null
            "spoiler": "yes",
        },
        {
            **review_doc(plain["_id"], null_genre["_id"], T0, text="Huge rating.", rating=1),
            "rating": 2**40,
        },
    ]
    unreadable = review_doc(plain["_id"], unreadable_review["_id"], T0, text="No date.")
    del unreadable["created_at"]  # Review.of fails: the page of reviews is an error
    nameless = user_doc("nameless", T0)
    del nameless["username"]
    await db.users.insert_one(nameless)
    odd = [
        {**review_doc(plain["_id"], odd_entries["_id"], T0, text="Finished."), "shelf": "FINISHED"},
        review_doc(nameless["_id"], odd_entries["_id"], T0, text="Who wrote this?"),
    ]
    await db.reviews.insert_many([*reviews, unreadable, *odd])
    return {
        "book.wrong_scalars": gid("Book", wrong_scalars["_id"]),
        "book.untitled": gid("Book", untitled["_id"]),
        "book.null_genre": gid("Book", null_genre["_id"]),
        "book.bad_figures": gid("Book", bad_figures["_id"]),
        "book.bad_shelves": gid("Book", bad_shelves["_id"]),
        "book.bad_reviews": gid("Book", bad_reviews["_id"]),
        "book.unreadable_review": gid("Book", unreadable_review["_id"]),
        "book.odd_entries": gid("Book", odd_entries["_id"]),
        "review.odd_shelf": gid("Review", odd[0]["_id"]),
        "review.nameless": gid("Review", odd[1]["_id"]),
        "review.figures_gone": gid("Review", reviews[4]["_id"]),
        "review.by_nobody": gid("Review", reviews[1]["_id"]),
        "review.unreadable": gid("Review", unreadable["_id"]),
        "user.odd_name": gid("User", odd_name["_id"]),
        "user.odd_figures": gid("User", odd_figures["_id"]),
    }


VIEWER_ACTIVITY = """
mutation($book: ID!, $r1: ID!, $r2: ID!, $u1: ID!, $u2: ID!, $author: ID!) {
  rateBook(bookId: $book, stars: 4) { id }
  writeReview(input: {bookId: $book, text: "The viewer's own words.", spoiler: true}) { id }
  l1: likeReview(reviewId: $r1) { id }
  l2: likeReview(reviewId: $r2) { id }
  followUser(userId: $u1) { id }
  f2: followUser(userId: $u2) { id }
  followAuthor(authorId: $author) { id }
  addComment(reviewId: $r1, text: "Seconded.") { id }
}
"""


async def seed(app: AppUnderTest) -> World:
    store = app.services.store
    summary = await load_demo(store, DEMO_TEST_SCALE)
    await reconcile(store, fix=True)
    gql = app.client
    token, viewer = await gql.sign_up("eq_viewer")
    book = gid("Book", summary.book_id)
    page = await gql.data(
        "query($b: ID!) { book(id: $b) { reviews(first: 5) { edges { node { id user { id"
        " username } } } } } }",
        {"b": book},
    )
    nodes_ = [edge["node"] for edge in page["book"]["reviews"]["edges"]]
    author = gid("Author", summary.author_id)
    activity = {
        "book": book,
        "r1": nodes_[0]["id"],
        "r2": nodes_[1]["id"],
        "u1": nodes_[0]["user"]["id"],
        "u2": nodes_[2]["user"]["id"],
        "author": author,
    }
    await gql.data(VIEWER_ACTIVITY, activity, token)
    await reconcile(store, fix=True)
    comment = await store.comments.find_one({})
    assert comment is not None
    malformed = await seed_malformed(app, summary.author_id)
    seed_oids = {
        doc["_id"]
        for name in await store.db.list_collection_names()
        for doc in await store.db[name].find().to_list()
    }
    return World(
        db=app.settings.mongodb_db,
        viewer_token=token,
        ids={
            "book": book,
            "author": author,
            "viewer": viewer,
            "review": nodes_[0]["id"],
            "review.other": nodes_[3]["id"],
            "user": nodes_[0]["user"]["id"],
            "comment": gid("Comment", comment["_id"]),
            **malformed,
        },
        usernames=[nodes_[0]["user"]["username"], "eq_viewer", "odd_name", "odd_figures"],
        seed_oids=seed_oids,
    )


def strategy_settings(servers: Servers, db: str, strategy: str) -> Settings:
    return app_settings(
        servers.mongodb_url,
        servers.redis_url,
        db_name=db,
        execution=strategy,
        response_cache=False,
        # One stream and key prefix per app: events of one copy never reach another.
        stream_key=f"events:{db}:{strategy}",
        redis_prefix=f"{db}:{strategy}",
    )


@dataclass
class Apps:
    world: World
    by_strategy: dict[str, AppUnderTest]


@pytest.fixture(scope="module")
async def apps(servers: Servers) -> AsyncIterator[Apps]:
    """One app per strategy, all on the one seeded database (read-only: queries only)."""
    db = f"t_eq_{ObjectId()}"
    async with AsyncExitStack() as stack:
        by_strategy = {
            strategy: await stack.enter_async_context(
                running_app(strategy_settings(servers, db, strategy))
            )
            for strategy in STRATEGIES
        }
        world = await seed(by_strategy[REFERENCE])
        KNOWN_IDS[:] = sorted(world.ids.values())
        yield Apps(world, by_strategy)


# Filled by the `apps` fixture before any example is drawn (strategies read it lazily).
KNOWN_IDS: list[str] = []


# --- sending and comparing ----------------------------------------------------------------


class LoggedErrors(logging.Handler):
    """What schema.errors logs about the errors it hides from clients (an internal error's
    exception), so that those are compared too, not only the masked message."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self, request_id: str) -> list[tuple[str, str, str]]:
        taken, self.records = self.records, []
        return [
            (
                record.levelname,
                record.getMessage().replace(request_id, "<request-id>"),
                repr(record.exc_info[1]) if record.exc_info else "",
            )
            for record in taken
        ]


LOGGED = LoggedErrors()
errors_log.addHandler(LOGGED)
compiled_log.addHandler(LOGGED)  # a selection that failed to compile is a difference too


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    logged: list[tuple[str, str, str]]


async def send(app: AppUnderTest, request: dict[str, Any], token: str | None) -> Answer:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    LOGGED.records.clear()
    response: httpx.Response = await app.client.http.post("/graphql", json=request, headers=headers)
    # The request id differs per request (it is in internal errors' messages and extensions).
    request_id = response.headers["x-request-id"]
    text = response.text.replace(request_id, "<request-id>")
    return Answer(response.status_code, orjson.loads(text), LOGGED.take(request_id))


async def answers(apps: Apps, request: dict[str, Any], token: str | None) -> dict[str, Answer]:
    """Each strategy's answer; the others' three times (RUNS): planned, compiled, program."""
    found = {REFERENCE: await send(apps.by_strategy[REFERENCE], request, token)}
    for strategy in OTHERS:
        for run in RUNS:
            found[f"{strategy}{run}"] = await send(apps.by_strategy[strategy], request, token)
    return found


def assert_same(found: dict[str, Answer], what: str) -> None:
    expected = found[REFERENCE]
    for name, answer in found.items():
        assert answer == expected, f"{name} differs from {REFERENCE} on {what}"


async def assert_equivalent(
    apps: Apps, document: str, variables: dict[str, Any] | None = None, name: str = ""
) -> dict[str, Answer]:
    """The request, anonymous and as the viewer, answered alike by every strategy."""
    request: dict[str, Any] = {"query": document}
    if variables is not None:
        request["variables"] = variables
    found: dict[str, Answer] = {}
    for who, token in (("anonymous", None), ("viewer", apps.world.viewer_token)):
        found = await answers(apps, request, token)
        assert_same(found, f"{name or document[:60]} ({who})")
    return found


# --- the book page --------------------------------------------------------------------------

PAGE_BOOKS = [
    "book",
    "book.wrong_scalars",
    "book.untitled",
    "book.null_genre",
    "book.bad_figures",
    "book.bad_shelves",
    "book.bad_reviews",
    "book.unreadable_review",
    "book.odd_entries",
]


@pytest.mark.parametrize("book", PAGE_BOOKS)
async def test_book_page(apps: Apps, book: str) -> None:
    book_id = apps.world.ids[book]
    found = await assert_equivalent(apps, BOOK_PAGE_QUERY, {"id": book_id}, f"book page {book}")
    body = found[REFERENCE].body
    if book == "book":  # the demo page itself: no errors, every review with its reader
        assert "errors" not in body
        assert len(body["data"]["book"]["reviews"]["edges"]) == 30
        assert body["data"]["book"]["viewerReview"]["text"] == "The viewer's own words."
    else:
        assert body["errors"], body
    for first in (10, 30, 100):
        await assert_equivalent(apps, BOOK_PAGE, {"id": book_id, "first": first}, f"bench {book}")


def graphql_schema(app: AppUnderTest) -> Any:
    """graphql-core's schema object of the app's /graphql endpoint."""
    endpoint = next(r.endpoint for r in app.app.routes if isinstance(r.endpoint, GraphQLEndpoint))
    return endpoint.schema


async def test_a_document_sent_again_runs_compiled(apps: Apps) -> None:
    """What this suite compares is the compiled execution, not only its planned first run."""
    app = apps.by_strategy["compiled"]
    schema = graphql_schema(app)
    text = f"{BOOK_PAGE_QUERY}# sent twice by this test only"
    document = schema.documents.parse(text)
    request = {"query": text, "variables": {"id": apps.world.ids["book"]}}
    first = await send(app, request, None)
    assert not is_compiled(document, schema._schema)
    again = await send(app, request, None)
    assert is_compiled(document, schema._schema)
    assert not runs_as_program(document, schema._schema)
    third = await send(app, request, None)
    assert runs_as_program(document, schema._schema)
    assert again == first == third and "errors" not in first.body


# Variables the program coerces itself (the built-in scalars' values as they are, defaults,
# absent and null) and those it leaves to graphql-core (a float for an Int, an int for an ID,
# values out of range, the wrong type), on the third run of each document.
VARIABLES_DOCUMENT = """query Vars($id: ID!, $first: Int = 3, $after: String,
  $sort: ReviewSort = NEWEST, $stars: [Int!], $search: String) {
  book(id: $id) { id reviews(first: $first, after: $after, sort: $sort, stars: $stars,
    search: $search) { edges { cursor node { id rating } } pageInfo { hasNextPage } } } }"""
VARIABLE_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "given": {"first": 2, "sort": "OLDEST", "search": None},
    "null first": {"first": None},
    "a float for an Int": {"first": 2.0},
    "a list of Int": {"stars": [5, 4]},
    "an Int out of range": {"first": 2**40},
    "a boolean for an Int": {"first": True},
    "an unknown enum value": {"sort": "BEST"},
    "an int for an ID": {"id": 12},
    "a missing ID": {"id": None},
}


@pytest.mark.parametrize("case", VARIABLE_CASES)
async def test_variables(apps: Apps, case: str) -> None:
    variables = {"id": apps.world.ids["book"], **VARIABLE_CASES[case]}
    await assert_equivalent(apps, VARIABLES_DOCUMENT, variables, f"variables: {case}")


# --- the README's queries -------------------------------------------------------------------

README_QUERY = re.compile(r'"query":\s*"((?:[^"\\]|\\.)*)"', re.DOTALL)


def readme_documents() -> list[str]:
    """The GraphQL documents of the README's curl examples (JSON strings in shell quotes)."""
    found = []
    for match in README_QUERY.finditer(README.read_text()):
        found.append(orjson.loads(f'"{match[1]}"'.replace("\n", " ")))
    return found


def is_mutation(document: str) -> bool:
    return document.lstrip().startswith("mutation")


def test_the_readme_documents_are_found() -> None:
    documents = readme_documents()
    assert len(documents) >= 4, documents
    assert any(is_mutation(d) for d in documents)  # they run in test_mutation_scenario
    assert any("book(id: $id)" in d for d in documents)


README_QUERIES = [d for d in readme_documents() if not is_mutation(d)]


@pytest.mark.parametrize("document", README_QUERIES)
async def test_readme_queries(apps: Apps, document: str) -> None:
    await assert_equivalent(apps, document, {"id": apps.world.ids["book"]})


# --- hand-written queries -------------------------------------------------------------------

REVIEW_FIELDS = """id shelf rating text spoiler createdAt updatedAt likesCount commentsCount
  viewerHasLiked"""
USER_FIELDS = """id username displayName avatarUrl bio reviewsCount followersCount
  followingCount authoredBooksCount viewerIsFollowing"""
BOOK_FIELDS = """id title subtitle description pageCount format isbn13 firstPublished coverUrl
  genres reviewsCount ratingStats { average count updatedAt histogram { stars count percent } }
  shelfCounts { wantToRead currentlyReading read }"""

QUERIES: dict[str, tuple[str, dict[str, str]]] = {
    "books list, every book and its nested fields": (
        f"""{{ books(first: 50) {{ totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor
          endCursor }} edges {{ cursor node {{ {BOOK_FIELDS} authors {{ id name }}
          reviews(first: 3) {{ totalCount edges {{ node {{ {REVIEW_FIELDS}
          user {{ {USER_FIELDS} }} }} }} }} viewerReview {{ id rating }} }} }} }} }}""",
        {},
    ),
    "node, each type through fragments": (
        f"""query($a: ID!, $b: ID!, $c: ID!, $d: ID!, $e: ID!, $f: ID!) {{
          a: node(id: $a) {{ id __typename ...B }} b: node(id: $b) {{ ...A }}
          c: node(id: $c) {{ ... on User {{ {USER_FIELDS} }} }}
          d: node(id: $d) {{ ... on Review {{ {REVIEW_FIELDS} book {{ title }} }} }}
          e: node(id: $e) {{ ... on Comment {{ id text createdAt user {{ username }}
            review {{ id }} }} }}
          f: node(id: $f) {{ id ... on Book {{ title }} }} }}
          fragment B on Book {{ {BOOK_FIELDS} }}
          fragment A on Author {{ id name bio photoUrl booksCount followersCount
            viewerIsFollowing books {{ edges {{ node {{ title }} }} }} }}""",
        {
            "a": "book",
            "b": "author",
            "c": "user",
            "d": "review",
            "e": "comment",
            "f": "book.untitled",
        },
    ),
    "review pages of one book, sorted and filtered, with comments": (
        f"""query($b: ID!) {{ book(id: $b) {{
          popular: reviews(first: 4) {{ edges {{ cursor node {{ id likesCount }} }} }}
          newest: reviews(first: 4, sort: NEWEST) {{ totalCount edges {{ node {{ {REVIEW_FIELDS}
            comments {{ totalCount edges {{ cursor node {{ id text user {{ username }}
            review {{ id }} }} }} }} }} }} }}
          fives: reviews(sort: OLDEST, stars: [5, 4]) {{ totalCount edges {{ node {{ rating }} }} }}
          search: reviews(search: "mediator") {{ edges {{ node {{ text }} }} }}
          friendsReviews {{ totalCount edges {{ node {{ id user {{ username }} }} }} }} }} }}""",
        {"b": "book"},
    ),
    "review with its book, reader and comments": (
        f"""query($r: ID!) {{ review(id: $r) {{ {REVIEW_FIELDS} book {{ {BOOK_FIELDS} }}
          user {{ {USER_FIELDS} reviews(first: 5) {{ edges {{ node {{ id shelf }} }} }} }}
          comments(first: 5) {{ edges {{ node {{ id text user {{ id }} }} }} }} }} }}""",
        {"r": "review"},
    ),
    "malformed reviews by id": (
        f"""query($a: ID!, $b: ID!, $c: ID!, $d: ID!, $e: ID!) {{
          a: review(id: $a) {{ {REVIEW_FIELDS} user {{ id }} }}
          b: review(id: $b) {{ id text user {{ id username }} }}
          c: review(id: $c) {{ id text }}
          d: review(id: $d) {{ {REVIEW_FIELDS} }}
          e: review(id: $e) {{ id text user {{ {USER_FIELDS} }} }} }}""",
        {
            "a": "review.figures_gone",
            "b": "review.by_nobody",
            "c": "review.unreadable",
            "d": "review.odd_shelf",
            "e": "review.nameless",
        },
    ),
    "viewer and users": (
        f"""query($u: String!, $v: String!) {{ viewer {{ {USER_FIELDS}
          reviews {{ edges {{ node {{ id shelf rating book {{ title }} }} }} }} }}
          u: user(username: $u) {{ {USER_FIELDS} }} v: user(username: $v) {{ {USER_FIELDS} }}
          none: user(username: "nobody-at-all") {{ id }} }}""",
        {"u": "username:odd_name", "v": "username:odd_figures"},
    ),
    "author and the author's books": (
        f"""query($a: ID!) {{ author(id: $a) {{ id name bio photoUrl booksCount followersCount
          viewerIsFollowing books(first: 5) {{ totalCount pageInfo {{ hasNextPage endCursor }}
          edges {{ cursor node {{ {BOOK_FIELDS} }} }} }} }} }}""",
        {"a": "author"},
    ),
    "merged fields, aliases, typename, fragments, literal skip and include": (
        """query($b: ID!) { book(id: $b) { __typename id title t: title title
          ... on Book { title pageCount authors { name } }
          ...F ...F
          skipped: reviewsCount @skip(if: true) kept: reviewsCount @include(if: true)
          ratingStats @include(if: false) { count } shelfCounts @skip(if: false) { read }
          reviews(first: 2) { edges { node { __typename id ...R user { id } user { username }
          } } } } }
          fragment F on Book { authors { id } genres }
          fragment R on Review { id text user { displayName } }""",
        {"b": "book"},
    ),
    "skip and include with variables (not compiled: the selections depend on them)": (
        """query($b: ID!, $yes: Boolean!, $no: Boolean!) { book(id: $b) { id
          vs: reviewsCount @skip(if: $yes) vi: reviewsCount @include(if: $yes)
          ratingStats @include(if: $no) { count } shelfCounts @skip(if: $no) { read }
          reviews(first: 2) @include(if: $yes) { edges { node { id user { id } } } } } }""",
        {"b": "book", "yes": "true", "no": "false"},
    ),
    "introspection": (
        """{ __schema { queryType { name } types { name kind } }
          __type(name: "Review") { name fields { name type { name kind ofType { name } } } }
          book: __typename }""",
        {},
    ),
    "a document that fails validation": ("{ book { title unknownField } }", {}),
    "a variable that fails coercion": (
        "query($b: ID!, $f: Int) { book(id: $b) { reviews(first: $f) { totalCount } } }",
        {"b": "book", "f": "not-a-number"},
    ),
    "an argument the resolver refuses": (
        """query($b: ID!) { book(id: $b) { title reviews(first: 500) { totalCount } } }""",
        {"b": "book"},
    ),
    "ids that are not ids": (
        """{ a: book(id: "nope") { id } b: node(id: "Qm9vazo") { id }
          c: review(id: "VXNlcjo2YjA5MjU0YzZjZmJmMTE4ZjdlNDFlMzU") { id }
          d: books { totalCount } }""",
        {},
    ),
}


def variables_for(world: World, roles: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, role in roles.items():
        if role in ("true", "false"):
            values[name] = role == "true"
        elif role.startswith("username:"):
            values[name] = role.removeprefix("username:")
        elif role in world.ids:
            values[name] = world.ids[role]
        else:
            values[name] = role
    return values


@pytest.mark.parametrize("name", list(QUERIES))
async def test_queries(apps: Apps, name: str) -> None:
    document, roles = QUERIES[name]
    await assert_equivalent(apps, document, variables_for(apps.world, roles), name)


# --- documents generated from the contract --------------------------------------------------

GENERATED = settings(FUZZ, max_examples=120)  # derandomized, no deadline
IDS = st.deferred(lambda: st.sampled_from(KNOWN_IDS))
SCALARS = {
    "ID": st.one_of(IDS, IDS, IDS, st.just("bm90LWFuLWlk")).map(nodes.String),
    "DateTime": st.just("2011-03-26T00:00:00Z").map(nodes.String),
    "Date": st.just("1989-01-01").map(nodes.String),
}


@pytest.mark.slow
@GENERATED
@given(document=queries(CONTRACT_SDL, custom_scalars=SCALARS), viewer=st.booleans())
async def test_generated_queries(apps: Apps, document: str, viewer: bool) -> None:
    token = apps.world.viewer_token if viewer else None
    assert_same(await answers(apps, {"query": document}, token), document)


# --- mutations, each strategy on its own copy -----------------------------------------------

MUTATION_REVIEW = f"""{REVIEW_FIELDS}
  book {{ {BOOK_FIELDS} authors {{ id followersCount booksCount viewerIsFollowing }}
    viewerReview {{ id rating shelf likesCount }}
    reviews(first: 3, sort: NEWEST) {{ edges {{ node {{ id likesCount commentsCount
      user {{ id reviewsCount followersCount }} }} }} }} }}
  user {{ {USER_FIELDS} }}
  comments {{ totalCount edges {{ cursor node {{ id text createdAt
    user {{ id reviewsCount }} }} }} }}"""

SCENARIO: list[tuple[str, dict[str, str], bool]] = [
    # (document, variables by role, sent with the viewer's token)
    (
        f"mutation($b: ID!) {{ rateBook(bookId: $b, stars: 5) {{ {MUTATION_REVIEW} }} }}",
        {"b": "book"},
        True,
    ),
    (
        f"mutation($b: ID!) {{ rateBook(bookId: $b, stars: 2) {{ {MUTATION_REVIEW} }} }}",
        {"b": "book.bad_reviews"},
        True,
    ),
    ("mutation($b: ID!) { rateBook(bookId: $b, stars: 9) { id } }", {"b": "book"}, True),
    ("mutation($b: ID!) { rateBook(bookId: $b, stars: 3) { id } }", {"b": "book"}, False),
    (
        "mutation($b: ID!) { rateBook(bookId: $b, stars: 3) { id book { title } } }",
        {"b": "book.untitled"},
        True,
    ),
    (
        f"""mutation($b: ID!) {{ setShelf(bookId: $b, shelf: CURRENTLY_READING) {{
          {MUTATION_REVIEW} }}
          again: setShelf(bookId: $b, shelf: CURRENTLY_READING) {{ id shelf book {{ shelfCounts {{
          currentlyReading read wantToRead }} }} }} }}""",
        {"b": "book.wrong_scalars"},
        True,
    ),
    (
        f"""mutation($b: ID!) {{ writeReview(input: {{bookId: $b, text: "Rewritten.", rating: 3}})
          {{ {MUTATION_REVIEW} }} }}""",
        {"b": "book"},
        True,
    ),
    (
        f"""mutation($r: ID!, $o: ID!) {{ likeReview(reviewId: $r) {{ {MUTATION_REVIEW} }}
          other: likeReview(reviewId: $o) {{ id likesCount viewerHasLiked }}
          unlikeReview(reviewId: $o) {{ id likesCount viewerHasLiked }} }}""",
        {"r": "review", "o": "review.other"},
        True,
    ),
    (
        "mutation($r: ID!) { likeReview(reviewId: $r) { id likesCount user { id username } } }",
        {"r": "review.figures_gone"},
        True,
    ),
    (
        "mutation($r: ID!) { likeReview(reviewId: $r) { id text user { id } } }",
        {"r": "review.by_nobody"},
        True,
    ),
    (
        f"""mutation($r: ID!) {{ addComment(reviewId: $r, text: "Agreed.") {{ id text createdAt
          user {{ {USER_FIELDS} }} review {{ {MUTATION_REVIEW} }} }} }}""",
        {"r": "review"},
        True,
    ),
    (
        f"""mutation($u: ID!, $o: ID!) {{ followUser(userId: $u) {{ {USER_FIELDS}
          reviews(first: 3) {{ totalCount edges {{ cursor node {{ id likesCount book {{ title
          reviewsCount }} }} }} }} }} odd: followUser(userId: $o) {{ id followersCount }} }}""",
        {"u": "user", "o": "user.odd_figures"},
        True,
    ),
    (
        f"""mutation($a: ID!) {{ followAuthor(authorId: $a) {{ id name followersCount booksCount
          viewerIsFollowing books {{ totalCount edges {{ node {{ {BOOK_FIELDS} }} }} }} }}
          unfollowAuthor(authorId: $a) {{ id followersCount viewerIsFollowing }} }}""",
        {"a": "author"},
        True,
    ),
    (
        "mutation($u: ID!) { unfollowUser(userId: $u) { id followersCount viewerIsFollowing } }",
        {"u": "user"},
        True,
    ),
    (
        f"mutation($b: ID!) {{ clearRating(bookId: $b) {{ {MUTATION_REVIEW} }} }}",
        {"b": "book"},
        True,
    ),
    (
        "mutation($c: ID!) { deleteComment(id: $c) }",
        {"c": "comment"},
        True,
    ),
    ("mutation($r: ID!) { deleteReview(id: $r) }", {"r": "review"}, True),
    (
        f"""mutation {{ signUp(input: {{username: "eq_new_reader", password: "a-long-password"}})
          {{ token user {{ {USER_FIELDS} reviews {{ totalCount }} }} }} }}""",
        {},
        False,
    ),
    (
        f"""mutation {{ logIn(username: "eq_new_reader", password: "a-long-password")
          {{ token user {{ {USER_FIELDS} }} }} }}""",
        {},
        False,
    ),
    (
        'mutation { logIn(username: "eq_new_reader", password: "wrong-password") { token } }',
        {},
        False,
    ),
    (
        f"""query($b: ID!) {{ viewer {{ {USER_FIELDS} reviews {{ edges {{ cursor node {{
          {REVIEW_FIELDS} }} }} }} }} book(id: $b) {{ {BOOK_FIELDS} viewerReview {{ id }} }} }}""",
        {"b": "book"},
        True,
    ),
    # The README's mutations (its examples name the demo book $b).
    *((document, {"b": "book"}, True) for document in readme_documents() if is_mutation(document)),
]


async def copy_database(source: AppUnderTest, target: AppUnderTest) -> None:
    for name in await source.services.store.db.list_collection_names():
        docs = await source.services.store.db[name].find().to_list()
        if docs:
            await target.services.store.db[name].insert_many(docs)


GLOBAL_ID = re.compile(r"^[A-Za-z0-9_-]{20,}$")


def generated(value: str, world: World) -> str | None:
    """What kind of value a write of the scenario made `value` is, if it is one (it may then
    differ between copies): "id" (a global id or a cursor naming a new document, or holding a
    time since seeding), "time" (a time since seeding) or "token"."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        pass
    else:
        return "time" if when.tzinfo is not None and when >= world.seeded_at else None
    if value.count(".") == 2 and value.startswith("ey"):  # a JWT
        return "token"
    if not GLOBAL_ID.match(value):
        return None
    try:
        _, oid = parse_global_id(value)
    except Exception:
        pass
    else:
        return "id" if oid not in world.seed_oids else None
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except Exception:
        return None
    text = orjson.dumps(decoded).decode()
    oids = {ObjectId(h) for h in re.findall(r'"o":"([0-9a-f]{24})"', text)}
    times = [float(t) for t in re.findall(r'"d":([0-9.]+)', text)]
    new = bool(oids - world.seed_oids) or any(t >= world.seeded_at.timestamp() for t in times)
    return "id" if new else None


def check_generated(
    expected: Any, found: Any, world: World, renamed: dict[str, str], where: str
) -> None:
    """`found` equals `expected` except for generated values of the same kind; new ids (and
    cursors) renamed one to one. (Times and tokens may coincide within a copy: two writes in
    one millisecond, a logIn in the second of the signUp.)"""
    if isinstance(expected, dict) and isinstance(found, dict):
        assert list(expected) == list(found), where
        for key in expected:
            check_generated(expected[key], found[key], world, renamed, f"{where}.{key}")
    elif isinstance(expected, list) and isinstance(found, list):
        assert len(expected) == len(found), where
        for index, (e, f) in enumerate(zip(expected, found, strict=True)):
            check_generated(e, f, world, renamed, f"{where}[{index}]")
    elif isinstance(expected, str) and isinstance(found, str) and expected != found:
        kind = generated(expected, world)
        assert kind is not None and generated(found, world) == kind, (where, expected, found)
        if kind == "id":
            assert renamed.setdefault(expected, found) == found, (where, expected, found)
            assert list(renamed.values()).count(found) == 1, (where, expected, found)
    else:
        assert type(expected) is type(found) and expected == found, (where, expected, found)


async def test_mutation_scenario(apps: Apps, servers: Servers) -> None:
    world = apps.world
    source = apps.by_strategy[REFERENCE]
    async with AsyncExitStack() as stack:
        copies: dict[str, AppUnderTest] = {}
        for strategy in STRATEGIES:
            db = f"{world.db}_{strategy}"
            copy = await stack.enter_async_context(
                running_app(strategy_settings(servers, db, strategy))
            )
            await copy_database(source, copy)
            copies[strategy] = copy
        renamed: dict[str, dict[str, str]] = {s: {} for s in OTHERS}
        codes: list[str | None] = []
        # Twice through: the second time, each document runs compiled (COMPILE_AT), on data
        # the first pass changed alike in every copy (repeated writes, refusals of repeats).
        for index, (document, roles, with_token) in enumerate(SCENARIO + SCENARIO):
            request = {"query": document, "variables": variables_for(world, roles)}
            token = world.viewer_token if with_token else None
            found = {s: await send(app, request, token) for s, app in copies.items()}
            expected = found[REFERENCE]
            for strategy in OTHERS:
                where = f"step {index} ({strategy})"
                assert found[strategy].status == expected.status, where
                assert found[strategy].logged == expected.logged, where
                check_generated(
                    expected.body, found[strategy].body, world, renamed[strategy], where
                )
            errors = expected.body.get("errors") or [{}]
            codes.append(errors[0].get("extensions", {}).get("code"))
        # The scenario reaches what it is meant to: successes and each kind of refusal.
        assert {None, "BAD_USER_INPUT", "UNAUTHENTICATED", "INTERNAL_SERVER_ERROR"} <= set(codes)
        assert any(renamed.values()), "no write generated a value: the scenario wrote nothing"
