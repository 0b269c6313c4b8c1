"""Hostile input for every string argument of the contract, through GraphQL over HTTP.

MongoDB operator injection (JSON objects where a scalar is expected, operator-like strings),
dotted and `$`-prefixed values, oversized values, control characters and NUL, invalid UTF-8
and malformed bodies, ownership, and hostile document shapes. Every refusal carries the
contract's code, never a 500, and a snapshot of every stored document and of the event stream
proves that nothing was written (the viewer's own entry for the book, which the refused
writeReview and rateBook values aim at, included).

Proven elsewhere, not repeated here: tampered, expired, foreign-key and alg-none tokens
(tests/test_auth.py::test_refused_tokens_identify_nobody); deleting another user's review or
comment (test_auth.py::test_only_the_owner_deletes_a_review, ...the_author_of_a_comment...);
length, range and id-type rules per field (tests/test_validation.py); depth, alias, token,
cost, batch and body limits (tests/test_limits.py).
"""

import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLObjectType,
    build_schema,
    get_named_type,
)

from devtools.embedded import Servers
from tests.support.app import AppUnderTest, app_settings, running_app
from tests.support.documents import gid, insert_author, insert_book, oid_of, quick_user
from tests.support.operations import COMMENT, FOLLOW_USER, LIKE, WRITE, write_review
from tests.support.snapshots import snapshot

GRAPHQL_RESPONSE = "application/graphql-response+json"
PASSWORD = "correct-horse"  # pw_user's: a user who can log in, so a log-in could succeed
CONTRACT = Path(__file__).resolve().parents[1] / "contract" / "schema.graphql"
CODES = {
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "RATE_LIMITED",
    "SERVICE_UNAVAILABLE",
    "PERSISTED_QUERY_NOT_FOUND",
    "INTERNAL_SERVER_ERROR",
}


@dataclass
class World:
    app: AppUnderTest
    viewer: str  # carol's token: mutations are refused for their input, not for auth; carol
    # has an entry for the book (rated, with a text)
    book: str
    author: str
    alice: str  # alice's user id; her token is alice_token
    alice_token: str
    review: str  # alice's review of the book
    comment: str  # bob's comment on it
    cursor: str  # a genuine cursor of the book's reviews

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        accept: str = GRAPHQL_RESPONSE,
    ) -> httpx.Response:
        return await self.app.client.post(
            query, variables, token=token or self.viewer, headers={"accept": accept}
        )


@pytest.fixture(scope="module")
async def world(servers: Servers) -> AsyncIterator[World]:
    """One app for the module: the refusals below write nothing, and each test compares its
    own snapshots. Tests that write use names of their own."""
    async with running_app(app_settings(servers.mongodb_url, servers.redis_url)) as app:
        gql = app.client
        book = await insert_book(app, "Alpha Book")
        author = await insert_author(app)
        alice_token, alice = await quick_user(app, "alice_r")
        bob_token, _ = await quick_user(app, "bob_r")
        carol_token, _ = await quick_user(app, "carol_r")
        await gql.sign_up("pw_user", password=PASSWORD)
        review = await write_review(gql, alice_token, book, "alpha words", rating=4)
        comment = await gql.data(COMMENT, {"r": review["id"], "t": "First!"}, bob_token)
        await gql.data(FOLLOW_USER, {"u": alice}, carol_token)  # friendsReviews reads `after`
        # The viewer's own entry for the book: refused values aimed at it (writeReview's text,
        # rateBook) must leave it exactly as it is, which only a content snapshot can tell.
        await write_review(gql, carol_token, book, "carol's words", rating=2, spoiler=True)
        page = await gql.data(
            "query($b: ID!) { book(id: $b) { reviews { edges { cursor } } } }",
            {"b": gid("Book", book)},
        )
        yield World(
            app,
            carol_token,
            gid("Book", book),
            gid("Author", author),
            alice,
            alice_token,
            review["id"],
            comment["addComment"]["id"],
            page["book"]["reviews"]["edges"][0]["cursor"],
        )


def errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The response's errors, after checking it is a GraphQL answer and not a crash."""
    assert response.status_code in (200, 400), response.text
    body = response.json()
    for error in body.get("errors", []):
        assert error["extensions"]["code"] in CODES, error
        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", error
        assert "Traceback" not in error["message"]
    return body.get("errors", [])


def assert_request_error(response: httpx.Response) -> list[dict[str, Any]]:
    """Refused by coercion or validation: 400, no data, BAD_USER_INPUT only."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in response.json()
    errors = errors_of(response)
    assert errors
    assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}, errors
    return errors


# --- every string argument of the contract --------------------------------------------------

Variables = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Argument:
    document: str
    variables: Variables  # everything but the hostile value
    slot: tuple[str, ...]  # where the hostile value goes in the variables
    kind: str  # "id", "cursor", "search", "lookup", "login", "stored", "password", "username"
    field: str | None = None  # the field a BAD_USER_INPUT names

    def with_value(self, world: World, value: Any) -> dict[str, Any]:
        variables = copy.deepcopy(self.variables(world))
        target = variables
        for key in self.slot[:-1]:
            target = target.setdefault(key, {})
        target[self.slot[-1]] = value
        return variables


def none(_: World) -> dict[str, Any]:
    return {}


def sign_up(**fields: str) -> Variables:
    return lambda w: {"i": {"username": "fresh_name", "password": "long-enough", **fields}}


def review_input(w: World) -> dict[str, Any]:
    return {"i": {"bookId": w.book, "text": "Fine words."}}


CONNECTION = "{ totalCount edges { node { id } } }"
ARGUMENTS: dict[str, Argument] = {
    # Query
    # node(id:) refuses a bad id without naming the field (reported; ids.parse_global_id)
    "node.id": Argument("query($v: ID!) { node(id: $v) { id } }", none, ("v",), "id"),
    "book.id": Argument("query($v: ID!) { book(id: $v) { id } }", none, ("v",), "id", "id"),
    "books.search": Argument(
        f"query($v: String) {{ books(search: $v) {CONNECTION} }}",
        none,
        ("v",),
        "search",
        "search",
    ),
    "books.after": Argument(
        f"query($v: String) {{ books(after: $v) {CONNECTION} }}", none, ("v",), "cursor", "after"
    ),
    "author.id": Argument("query($v: ID!) { author(id: $v) { id } }", none, ("v",), "id", "id"),
    "user.username": Argument(
        "query($v: String!) { user(username: $v) { id } }", none, ("v",), "lookup"
    ),
    "review.id": Argument("query($v: ID!) { review(id: $v) { id } }", none, ("v",), "id", "id"),
    "Book.reviews.after": Argument(
        f"query($b: ID!, $v: String) {{ book(id: $b) {{ reviews(after: $v) {CONNECTION} }} }}",
        lambda w: {"b": w.book},
        ("v",),
        "cursor",
        "after",
    ),
    "Book.reviews.search": Argument(
        f"query($b: ID!, $v: String) {{ book(id: $b) {{ reviews(search: $v) {CONNECTION} }} }}",
        lambda w: {"b": w.book},
        ("v",),
        "search",
        "search",
    ),
    "Book.friendsReviews.after": Argument(
        "query($b: ID!, $v: String)"
        f" {{ book(id: $b) {{ friendsReviews(after: $v) {CONNECTION} }} }}",
        lambda w: {"b": w.book},
        ("v",),
        "cursor",
        "after",
    ),
    "Author.books.after": Argument(
        f"query($a: ID!, $v: String) {{ author(id: $a) {{ books(after: $v) {CONNECTION} }} }}",
        lambda w: {"a": w.author},
        ("v",),
        "cursor",
        "after",
    ),
    "User.reviews.after": Argument(
        "query($u: String!, $v: String)"
        f" {{ user(username: $u) {{ reviews(after: $v) {CONNECTION} }} }}",
        lambda w: {"u": "alice_r"},
        ("v",),
        "cursor",
        "after",
    ),
    "Review.comments.after": Argument(
        "query($r: ID!, $v: String)"
        " { review(id: $r) { comments(after: $v) { totalCount edges { node { id } } } } }",
        lambda w: {"r": w.review},
        ("v",),
        "cursor",
        "after",
    ),
    # Mutation
    "signUp.username": Argument(
        "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
        sign_up(),
        ("i", "username"),
        "username",
        "input.username",
    ),
    "signUp.password": Argument(
        "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
        sign_up(),
        ("i", "password"),
        "password",
        "input.password",
    ),
    "signUp.displayName": Argument(
        "mutation($i: SignUpInput!) { signUp(input: $i) { token } }",
        sign_up(),
        ("i", "displayName"),
        "stored",
        "input.displayName",
    ),
    "logIn.username": Argument(
        "mutation($v: String!, $p: String!) { logIn(username: $v, password: $p) { token } }",
        lambda w: {"p": PASSWORD},
        ("v",),
        "login",
    ),
    "logIn.password": Argument(
        "mutation($u: String!, $v: String!) { logIn(username: $u, password: $v) { token } }",
        lambda w: {"u": "pw_user"},
        ("v",),
        "login",
    ),
    "rateBook.bookId": Argument(
        "mutation($v: ID!) { rateBook(bookId: $v, stars: 3) { id } }",
        none,
        ("v",),
        "id",
        "bookId",
    ),
    "clearRating.bookId": Argument(
        "mutation($v: ID!) { clearRating(bookId: $v) { id } }", none, ("v",), "id", "bookId"
    ),
    "setShelf.bookId": Argument(
        "mutation($v: ID!) { setShelf(bookId: $v, shelf: READ) { id } }",
        none,
        ("v",),
        "id",
        "bookId",
    ),
    "writeReview.bookId": Argument(WRITE, review_input, ("i", "bookId"), "id", "input.bookId"),
    "writeReview.text": Argument(WRITE, review_input, ("i", "text"), "stored", "input.text"),
    "deleteReview.id": Argument(
        "mutation($v: ID!) { deleteReview(id: $v) }", none, ("v",), "id", "id"
    ),
    "likeReview.reviewId": Argument(
        "mutation($v: ID!) { likeReview(reviewId: $v) { id } }", none, ("v",), "id", "reviewId"
    ),
    "unlikeReview.reviewId": Argument(
        "mutation($v: ID!) { unlikeReview(reviewId: $v) { id } }",
        none,
        ("v",),
        "id",
        "reviewId",
    ),
    "addComment.reviewId": Argument(
        'mutation($v: ID!) { addComment(reviewId: $v, text: "hi") { id } }',
        none,
        ("v",),
        "id",
        "reviewId",
    ),
    "addComment.text": Argument(
        "mutation($r: ID!, $v: String!) { addComment(reviewId: $r, text: $v) { id } }",
        lambda w: {"r": w.review},
        ("v",),
        "stored",
        "text",
    ),
    "deleteComment.id": Argument(
        "mutation($v: ID!) { deleteComment(id: $v) }", none, ("v",), "id", "id"
    ),
    "followUser.userId": Argument(
        "mutation($v: ID!) { followUser(userId: $v) { id } }", none, ("v",), "id", "userId"
    ),
    "unfollowUser.userId": Argument(
        "mutation($v: ID!) { unfollowUser(userId: $v) { id } }", none, ("v",), "id", "userId"
    ),
    "followAuthor.authorId": Argument(
        "mutation($v: ID!) { followAuthor(authorId: $v) { id } }",
        none,
        ("v",),
        "id",
        "authorId",
    ),
    "unfollowAuthor.authorId": Argument(
        "mutation($v: ID!) { unfollowAuthor(authorId: $v) { id } }",
        none,
        ("v",),
        "id",
        "authorId",
    ),
}
STARS = Argument(
    "query($b: ID!, $v: [Int!]) { book(id: $b) { reviews(stars: $v) { totalCount } } }",
    lambda w: {"b": w.book},
    ("v",),
    "stars",
)


def test_the_table_covers_every_string_argument_of_the_contract() -> None:
    # (Subscription.bookStatsChanged's bookId travels over WebSocket: tests/test_subscriptions.)
    schema = build_schema(CONTRACT.read_text())
    expected = set()
    for type_name in ("Query", "Mutation", "Book", "Author", "User", "Review", "Comment"):
        prefix = "" if type_name in ("Query", "Mutation") else f"{type_name}."
        object_type = schema.get_type(type_name)
        assert isinstance(object_type, GraphQLObjectType)
        for field_name, field in object_type.fields.items():
            for arg_name, arg in field.args.items():
                named = get_named_type(arg.type)
                if isinstance(named, GraphQLInputObjectType):
                    for input_name, input_field in named.fields.items():
                        if get_named_type(input_field.type).name in ("String", "ID"):
                            expected.add(f"{prefix}{field_name}.{input_name}")
                elif named.name in ("String", "ID"):
                    expected.add(f"{prefix}{field_name}.{arg_name}")
    assert expected == set(ARGUMENTS)


OPERATOR_OBJECTS: list[Any] = [
    {"$gt": ""},
    {"$ne": None},
    {"$where": "sleep(1000)"},
    {"$regex": ".*"},
    ["$gt", ""],
]


@pytest.mark.parametrize("name", list(ARGUMENTS))
async def test_operator_objects_where_a_scalar_is_expected_are_refused_by_coercion(
    world: World, name: str
) -> None:
    argument = ARGUMENTS[name]
    before = await snapshot(world.app)
    for value in OPERATOR_OBJECTS:
        response = await world.post(argument.document, argument.with_value(world, value))
        errors = assert_request_error(response)
        assert "cannot represent" in errors[0]["message"], errors
    assert await snapshot(world.app) == before


async def test_operator_objects_in_a_list_of_stars_are_refused(world: World) -> None:
    before = await snapshot(world.app)
    for value in [{"$gt": 0}, [{"$gt": 0}], ["$gt"], [1, {"$in": [1, 2]}]]:
        assert_request_error(await world.post(STARS.document, STARS.with_value(world, value)))
    assert await snapshot(world.app) == before


@pytest.mark.parametrize("extra", ["$where", "$set", "userId", "user_id", "_id"])
async def test_extra_fields_in_input_objects_are_refused(world: World, extra: str) -> None:
    # Nothing beyond the declared fields reaches a resolver: no way to name another user.
    before = await snapshot(world.app)
    for document, variables in (
        (WRITE, {"i": {"bookId": world.book, "text": "Mine", extra: world.alice}}),
        (ARGUMENTS["signUp.username"].document, {"i": {**sign_up()(world)["i"], extra: "1"}}),
    ):
        errors = assert_request_error(await world.post(document, variables))
        assert f"not to include unknown field '{extra}'" in errors[0]["message"], errors
    assert await snapshot(world.app) == before


OPERATOR_STRINGS = [
    '{"$gt": ""}',
    '{"$where": "sleep(1000)"}',
    '{"$ne": null}',
    "$where",
    "$ne",
    "$gt",
    "a.b.$c",
    "$.x",
    "this.password",
    "'; return true; var x='",
]


@pytest.mark.parametrize("name", [n for n, a in ARGUMENTS.items() if a.kind in ("id", "cursor")])
async def test_operator_strings_as_ids_and_cursors_are_refused(world: World, name: str) -> None:
    argument = ARGUMENTS[name]
    before = await snapshot(world.app)
    for value in OPERATOR_STRINGS:
        response = await world.post(argument.document, argument.with_value(world, value))
        assert response.status_code == 200, response.text
        errors = errors_of(response)
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], (value, errors)
        assert errors[0]["extensions"].get("field") == argument.field
    assert await snapshot(world.app) == before


LOG_IN_PROBES = {
    "logIn.username": ['{"$ne": null}', '{"$gt": ""}', "$ne", "pw_.ser", "PW_USER\u0000"],
    "logIn.password": ['{"$ne": null}', "$where"],
}


async def test_operator_strings_never_find_or_log_in_anyone(world: World) -> None:
    log_in = ARGUMENTS["logIn.username"]
    genuine = await world.post(log_in.document, log_in.with_value(world, "pw_user"), token="x")
    assert genuine.json()["data"]["logIn"]["token"]  # the control: this user can log in
    before = await snapshot(world.app)
    lookup = ARGUMENTS["user.username"]
    for value in [*OPERATOR_STRINGS, ".*", "alice_.", "^alice", "ALICE_R\u0000"]:
        data = (await world.post(lookup.document, {"v": value})).json()
        assert data == {"data": {"user": None}}, (value, data)
        # Such names cannot be taken either.
        if not value.replace(".", "").replace("_", "").isalnum():
            argument = ARGUMENTS["signUp.username"]
            errors = errors_of(
                await world.post(argument.document, argument.with_value(world, value))
            )
            assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.username"}
    # (a password check costs an argon2 verification: a few of each kind)
    for name, values in LOG_IN_PROBES.items():
        argument = ARGUMENTS[name]
        for value in values:
            response = await world.post(argument.document, argument.with_value(world, value), "x")
            errors = errors_of(response)
            assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"], errors
    assert await snapshot(world.app) == before


async def test_dots_in_usernames_are_literal(world: World) -> None:
    gql = world.app.client
    await gql.sign_up("dot.ted", password="long-enough")
    _, other = await gql.sign_up("dotXted", password="long-enough")
    lookup = ARGUMENTS["user.username"].document
    found = (await gql.data(lookup, {"v": "dot.ted"}))["user"]
    assert found is not None and found["id"] != other
    assert (await gql.data(lookup, {"v": "DOT.TED"}))["user"] == found  # case-insensitive only
    assert (await gql.data(lookup, {"v": "dot.te"}))["user"] is None
    assert (await gql.data(lookup, {"v": "d.t.ted"}))["user"] is None
    log_in = (
        "mutation($u: String!, $p: String!) { logIn(username: $u, password: $p) { user { id } } }"
    )
    assert (await gql.data(log_in, {"u": "dot.ted", "p": "long-enough"}))["logIn"]["user"] == found


STORED_STRINGS = [s for s in OPERATOR_STRINGS if s.strip()] + ["$", "a.b", "__proto__"]


async def test_operator_strings_are_stored_and_returned_literally(world: World) -> None:
    gql = world.app.client
    store = world.app.services.store
    for i, value in enumerate(STORED_STRINGS):
        token, _ = await quick_user(world.app, f"literal_{i}")
        book = gid("Book", await insert_book(world.app, f"Literal {i}"))
        written = await gql.data(WRITE, {"i": {"bookId": book, "text": value}}, token)
        assert written["writeReview"]["text"] == value
        comment = await gql.data(COMMENT, {"r": written["writeReview"]["id"], "t": value}, token)
        assert comment["addComment"]["text"] == value
        # Stored as the very string, found by equality (a string value is never an operator).
        assert await store.reviews.count_documents({"text": value}) == 1
        assert await store.comments.count_documents({"text": value}) == 1
        review = await gql.data(
            "query($r: ID!) { review(id: $r) { text comments { edges { node { text } } } } }",
            {"r": written["writeReview"]["id"]},
        )
        assert review["review"]["text"] == value
        assert review["review"]["comments"]["edges"][0]["node"]["text"] == value

    for i, value in enumerate(['{"$ne": null}', "$where", "a.b.$c"]):  # argon2: a few
        variables = {
            "i": {"username": f"shown_{i}", "password": value + " padding", "displayName": value}
        }
        data = await gql.data(
            "mutation($i: SignUpInput!) { signUp(input: $i) { user { displayName } } }", variables
        )
        assert data["signUp"]["user"]["displayName"] == value
        log_in = (
            "mutation($u: String!, $p: String!)"
            " { logIn(username: $u, password: $p) { user { displayName } } }"
        )
        logged = await gql.data(log_in, {"u": f"shown_{i}", "p": value + " padding"})
        assert logged["logIn"]["user"]["displayName"] == value
        assert await store.users.count_documents({"display_name": value}) == 1


async def test_search_is_for_the_words_only(world: World) -> None:
    gql = world.app.client
    book = gid("Book", await insert_book(world.app, "Searched Book"))
    one, _ = await quick_user(world.app)
    two, _ = await quick_user(world.app)
    await gql.data(
        WRITE, {"i": {"bookId": book, "text": 'gamma {"$where": "sleep(1)"} a.b.$c'}}, one
    )
    await gql.data(WRITE, {"i": {"bookId": book, "text": "delta words"}}, two)
    query = ARGUMENTS["Book.reviews.search"].document

    async def found(search: str) -> list[str]:
        data = await gql.data(query, {"b": book, "v": search})
        return sorted(e["node"]["id"] for e in data["book"]["reviews"]["edges"])

    everything = await found("gamma delta")
    gamma = await found("gamma")
    assert len(everything) == 2 and len(gamma) == 1
    # Operator-looking searches are searched as their words: never "match everything".
    assert await found("$where") == gamma  # the word "where" is in gamma's text
    assert await found("a.b.$c") == gamma
    assert await found('{"$ne": null}') == []
    assert await found("$ne") == []
    # MongoDB text-search syntax is not interpreted: "-gamma" searches for gamma.
    assert await found("-gamma") == gamma
    assert await found('"delta words"') == sorted(await found("delta"))
    before = await snapshot(world.app)
    for wordless in (".*", "\\", '"', "$", "-", "{}"):
        for name in ("Book.reviews.search", "books.search"):
            argument = ARGUMENTS[name]
            errors = errors_of(
                await world.post(argument.document, argument.with_value(world, wordless))
            )
            assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "search"}
    assert await snapshot(world.app) == before


# --- oversized values -----------------------------------------------------------------------


@pytest.mark.parametrize("name", [*ARGUMENTS, "stars"])
async def test_a_one_megabyte_value_is_refused_by_the_body_limit(world: World, name: str) -> None:
    argument = STARS if name == "stars" else ARGUMENTS[name]
    value: Any = [1] * 400_000 if name == "stars" else "x" * 1_048_576
    before = await snapshot(world.app)
    response = await world.post(argument.document, argument.with_value(world, value))
    assert response.status_code == 413
    assert await snapshot(world.app) == before


BIG = "y" * 100_000  # under the body limit, over every field's own limit


@pytest.mark.parametrize("name", list(ARGUMENTS))
async def test_a_large_value_under_the_body_limit_is_refused_by_its_field(
    world: World, name: str
) -> None:
    argument = ARGUMENTS[name]
    before = await snapshot(world.app)
    response = await world.post(argument.document, argument.with_value(world, BIG))
    assert response.status_code == 200, response.text
    errors = errors_of(response)
    if argument.kind == "lookup":
        assert response.json()["data"] == {"user": None}
    elif argument.kind == "login":
        assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"]
    else:
        assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], errors
        assert errors[0]["extensions"].get("field") == argument.field
    assert await snapshot(world.app) == before


async def test_a_huge_list_of_stars_is_harmless(world: World) -> None:
    as_variable = await world.post(STARS.document, STARS.with_value(world, [1] * 10_000))
    assert errors_of(as_variable) == []
    once = await world.post(STARS.document, STARS.with_value(world, [1]))
    assert as_variable.json() == once.json()
    # Written into the document it is stopped by the token limit before anything runs.
    literal = (
        STARS.document.replace("$v: [Int!]", "")
        .replace(", )", ")")
        .replace("stars: $v", "stars: [" + ",".join(["1"] * 10_000) + "]")
    )
    errors = assert_request_error(await world.post(literal, {"b": world.book}))
    assert "tokens" in errors[0]["message"]


async def test_huge_variables_are_harmless(world: World) -> None:
    before = await snapshot(world.app)
    unused = {f"v{i}": "z" * 10 for i in range(10_000)}
    response = await world.post("{ viewer { username } }", unused)
    assert response.json() == {"data": {"viewer": {"username": "carol_r"}}}
    nested: Any = "deep"
    for _ in range(500):
        nested = {"$where": nested}
    response = await world.post("{ viewer { username } }", {"x": nested})
    assert response.json() == {"data": {"viewer": {"username": "carol_r"}}}
    assert await snapshot(world.app) == before


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        ('query($b: ID = "x") { book(id: $b) { id } }', {"b": None}),
        ("query($i: Boolean = true) { viewer { username @include(if: $i) } }", {"i": None}),
        (
            "query($i: Boolean = true) { viewer { ... on User @skip(if: $i) { username } } }",
            {"i": None},
        ),
    ],
)
async def test_an_explicit_null_where_only_a_default_made_a_variable_fit_is_the_clients_fault(
    world: World, document: str, variables: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A nullable variable with a default may stand where null cannot; sent as null, graphql-
    core refuses the value at the field: the client's input, not an internal error."""
    for _ in range(4):  # planned, compiled, then the program (which hands it to graphql-core)
        caplog.clear()
        body = (await world.post(document, variables)).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
        assert "not to be None" in body["errors"][0]["message"], body
        assert not [r for r in caplog.records if r.levelname == "ERROR"]


# --- control characters and NUL -------------------------------------------------------------

CONTROLS = ["\u0000", "\u0001", "\u001b[31m", "\u0007", "\u007f", "\u0085", "\u009b"]


@pytest.mark.parametrize(
    "name", [n for n, a in ARGUMENTS.items() if a.kind in ("stored", "search", "username")]
)
async def test_control_characters_in_text_and_names_are_refused(world: World, name: str) -> None:
    argument = ARGUMENTS[name]
    field = argument.field
    before = await snapshot(world.app)
    for control in CONTROLS:
        response = await world.post(argument.document, argument.with_value(world, f"ab{control}cd"))
        errors = errors_of(response)
        assert [e["extensions"] for e in errors] == [{"code": "BAD_USER_INPUT", "field": field}], (
            repr(control),
            errors,
        )
    assert await snapshot(world.app) == before


@pytest.mark.parametrize(
    "name", [n for n, a in ARGUMENTS.items() if a.kind in ("id", "cursor", "lookup", "login")]
)
async def test_nul_bytes_identify_nothing(world: World, name: str) -> None:
    argument = ARGUMENTS[name]
    before = await snapshot(world.app)
    genuine = {
        "id": world.book,
        "cursor": world.cursor,
        "lookup": "alice_r",
        "login": PASSWORD if name == "logIn.password" else "pw_user",
    }[argument.kind]
    as_genuine = None
    if argument.kind == "cursor":  # queries only: nothing is written
        as_genuine = await world.post(argument.document, argument.with_value(world, genuine))
    for value in ("\u0000", f"{genuine}\u0000", f"\u0000{genuine}"):
        response = await world.post(argument.document, argument.with_value(world, value))
        errors = errors_of(response)
        if argument.kind == "lookup":
            assert response.json()["data"] == {"user": None}
            continue
        if as_genuine is not None and value != "\u0000" and not errors:
            # Cursors are decoded leniently (base64 drops characters outside its alphabet):
            # depending on the cursor's length the NUL is ignored. It then names the very
            # same position, never another one (reported; service/ids.py).
            assert response.json() == as_genuine.json()
            continue
        expected = "UNAUTHENTICATED" if argument.kind == "login" else "BAD_USER_INPUT"
        assert [e["extensions"]["code"] for e in errors] == [expected], (name, value, errors)
    assert await snapshot(world.app) == before


async def test_line_breaks_and_tabs_are_not_control_characters_for_text(world: World) -> None:
    token, _ = await quick_user(world.app)
    book = gid("Book", await insert_book(world.app))
    text = "First line\n\tindented\r\nlast — ünïcödé ✓"
    written = await world.app.client.data(WRITE, {"i": {"bookId": book, "text": text}}, token)
    assert written["writeReview"]["text"] == text


# --- bytes that are not UTF-8 JSON ----------------------------------------------------------

MUTATION_BODY = (
    b'{"query": "mutation { followAuthor(authorId: \\"%s\\") { id } }", "variables": {"x": "%s"}}'
)


def raw_body(world: World, junk: bytes) -> bytes:
    return MUTATION_BODY % (world.author.encode(), junk)


BAD_BYTES = {
    "invalid-start-byte": b"\xff\xfe",
    "overlong-slash": b"\xc0\xaf",
    "truncated-sequence": b"\xe2\x82",
    "lone-surrogate-bytes": b"\xed\xa0\x80",
    "lone-surrogate-escape": b"\\ud800",
    "latin-1": "caf\u00e9".encode("latin-1"),
}


@pytest.mark.parametrize("junk", list(BAD_BYTES))
async def test_invalid_utf8_in_the_body_is_400(world: World, junk: str) -> None:
    before = await snapshot(world.app)
    response = await world.app.client.http.post(
        "/graphql",
        content=raw_body(world, BAD_BYTES[junk]),
        headers={"content-type": "application/json", "authorization": f"Bearer {world.viewer}"},
    )
    assert response.status_code == 400, response.text
    assert await snapshot(world.app) == before
    # The same body with valid text runs, so the bytes were the only fault.
    response = await world.app.client.http.post(
        "/graphql",
        content=raw_body(world, "caf\u00e9".encode()),
        headers={"content-type": "application/json", "authorization": f"Bearer {world.viewer}"},
    )
    assert response.json()["data"]["followAuthor"]["id"] == world.author
    await world.app.client.data(
        "mutation($a: ID!) { unfollowAuthor(authorId: $a) { id } }",
        {"a": world.author},
        world.viewer,
    )


async def test_invalid_utf8_in_a_get_query_string_is_a_client_error(world: World) -> None:
    for url in ("/graphql?query=%7B%20viewer%20%7B%20id%20%7D%20%7D%FF", "/graphql?query=%FF%FE"):
        response = await world.app.client.http.get(url, headers={"accept": GRAPHQL_RESPONSE})
        errors = assert_request_error(response)
        assert "Syntax Error" in errors[0]["message"]


BAD_BODIES: dict[str, bytes] = {
    "string": b'"mutation { followAuthor(authorId: \\"x\\") { id } }"',
    "number": b"5",
    "null": b"null",
    "list-of-numbers": b"[1, 2]",
    "list-of-strings": b'["{ viewer { id } }"]',
    "query-not-a-string": b'{"query": {"$where": "1"}}',
    "query-a-list": b'{"query": ["{ viewer { id } }"]}',
    "operation-name-a-list": b'{"query": "{ viewer { id } }", "operationName": ["x"]}',
    "variables-a-list": b'{"query": "{ viewer { id } }", "variables": [1]}',
    "extensions-a-list": b'{"query": "{ viewer { id } }", "extensions": [1]}',
    "batch-item-query-a-number": b'[{"query": 5}]',
    "batch-item-extensions-a-string": b'[{"query": "{ viewer { id } }", "extensions": "x"}]',
    "nested-100k-deep": b'{"query": "{ viewer { id } }", "variables": {"x": '
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}}",
    "nan": b'{"query": "query($f: Int) { books(first: $f) { totalCount } }",'
    b' "variables": {"f": NaN}}',
    "utf-16": '{"query": "{ viewer { id } }"}'.encode("utf-16"),
    "truncated": b'{"query": "{ viewer { id } }"',
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
async def test_malformed_bodies_are_400_never_500(world: World, name: str) -> None:
    before = await snapshot(world.app)
    response = await world.app.client.http.post(
        "/graphql",
        content=BAD_BODIES[name],
        headers={"content-type": "application/json", "authorization": f"Bearer {world.viewer}"},
    )
    assert response.status_code == 400, response.text
    assert await snapshot(world.app) == before


# --- ownership ------------------------------------------------------------------------------


async def test_write_review_only_ever_touches_the_viewers_own_entry(world: World) -> None:
    app = world.app
    book = await insert_book(app, "Contested")
    alice_review = await write_review(
        app.client, world.alice_token, book, "Alice's words", rating=5
    )
    alice_doc = await app.services.store.reviews.find_one({"_id": oid_of(alice_review["id"])})
    assert alice_doc is not None
    intruder, intruder_id = await quick_user(app)
    written = await write_review(app.client, intruder, book, "Intruder's words", rating=1)
    assert written["id"] != alice_review["id"]
    assert written["user"]["id"] == intruder_id
    # Alice's entry is the very same document, field for field.
    assert await app.services.store.reviews.find_one({"_id": alice_doc["_id"]}) == alice_doc
    viewer_review = "query($b: ID!) { book(id: $b) { viewerReview { text rating } } }"
    mine = await app.client.data(viewer_review, {"b": gid("Book", book)}, world.alice_token)
    assert mine["book"]["viewerReview"] == {"text": "Alice's words", "rating": 5}


def test_no_mutation_takes_a_user_to_act_as() -> None:
    # The acting user is always the token's: no mutation or input names one (followUser's
    # userId is whom to follow).
    schema = build_schema(CONTRACT.read_text())
    mutation = schema.mutation_type
    assert mutation is not None
    assert list(mutation.fields["likeReview"].args) == ["reviewId"]
    assert list(mutation.fields["writeReview"].args) == ["input"]
    assert set(schema.get_type("WriteReviewInput").fields) == {  # type: ignore[union-attr]
        "bookId",
        "text",
        "rating",
        "spoiler",
    }
    for name, field in mutation.fields.items():
        if name not in ("followUser", "unfollowUser"):
            assert "userId" not in field.args, name


async def test_like_review_records_the_tokens_viewer(world: World) -> None:
    app = world.app
    liker, liker_id = await quick_user(app)
    before = await app.services.store.likes.count_documents({"review_id": oid_of(world.review)})
    liked = await app.client.data(LIKE, {"r": world.review}, liker)
    assert liked["likeReview"]["viewerHasLiked"] is True
    like = await app.services.store.likes.find_one(
        {"review_id": oid_of(world.review), "user_id": oid_of(liker_id)}
    )
    assert like is not None
    after = await app.services.store.likes.count_documents({"review_id": oid_of(world.review)})
    assert after == before + 1
    # The review's owner has not liked it by someone else's hand.
    owner_view = await app.client.data(
        "query($r: ID!) { review(id: $r) { viewerHasLiked } }",
        {"r": world.review},
        world.alice_token,
    )
    assert owner_view["review"]["viewerHasLiked"] is False


# --- hostile document shapes ----------------------------------------------------------------

FOLLOW = 'followAuthor(authorId: "{author}") {{ id }}'

SHAPES: dict[str, tuple[str, str]] = {
    "fragment-cycle": (
        "mutation {{ ...A }} fragment A on Mutation {{ {follow} ...B }}"
        " fragment B on Mutation {{ ...A }}",
        "Cannot spread fragment 'A' within itself",
    ),
    "fragment-self-spread": (
        "mutation {{ ...A }} fragment A on Mutation {{ {follow} ...A }}",
        "Cannot spread fragment 'A' within itself",
    ),
    "undefined-fragment": ("mutation {{ {follow} ...Nope }}", "Unknown fragment 'Nope'"),
    "deep-nesting": (
        "mutation {{ {follow} " + "x {{ " * 300 + "y" + " }}" * 300 + " }}",
        "nested too deeply",
    ),
    "deep-list-literal": (
        "mutation {{ {follow} x(a: " + "[" * 300 + "]" * 300 + ") }}",
        "nested too deeply",
    ),
    "alias-bomb": (
        "mutation {{ {follow} " + " ".join(f"a{i}: __typename" for i in range(500)) + " }}",
        "aliases found",
    ),
    "duplicate-directives": (
        'mutation {{ followAuthor(authorId: "{author}") @include(if: true) @include(if: true)'
        " {{ id }} }}",
        "can only be used once",
    ),
    "unknown-directive": ("mutation {{ {follow} __typename @exec }}", "Unknown directive"),
    "subscription-over-http": (
        'subscription {{ bookStatsChanged(bookId: "{author}") {{ id }} }}',
        "WebSocket",
    ),
    "two-anonymous-operations": ("mutation {{ {follow} }} {{ __typename }}", "anonymous operation"),
    "many-operations": (
        " ".join(f"mutation M{i} {{{{ {{follow}} }}}}" for i in range(300)),
        "tokens",
    ),
}


@pytest.mark.parametrize("name", list(SHAPES))
async def test_hostile_document_shapes_are_refused_before_running(world: World, name: str) -> None:
    template, message = SHAPES[name]
    document = template.format(follow=FOLLOW.format(author=world.author), author=world.author)
    before = await snapshot(world.app)
    errors = assert_request_error(await world.post(document))
    assert any(message in e["message"] for e in errors), errors
    assert await snapshot(world.app) == before


async def test_a_refused_shape_in_a_batch_does_not_stop_or_crash_the_others(world: World) -> None:
    batch = [
        {"query": "{ ...Nope }"},
        {"query": 'subscription { bookStatsChanged(bookId: "x") { id } }'},
        {"query": "{ viewer { username } }"},
    ]
    response = await world.app.client.http.post(
        "/graphql", json=batch, headers={"authorization": f"Bearer {world.viewer}"}
    )
    assert response.status_code == 200
    results = response.json()
    assert [r["errors"][0]["extensions"]["code"] for r in results[:2]] == ["BAD_USER_INPUT"] * 2
    assert results[2] == {"data": {"viewer": {"username": "carol_r"}}}


def test_bodies_here_are_really_json_apart_from_the_faults() -> None:
    # Guards the tables above: the "bad" bodies are bad for the stated reason only.
    assert orjson.loads(MUTATION_BODY % (b"QQ", "caf\u00e9".encode()))
    assert orjson.loads(BAD_BODIES["variables-a-list"])["variables"] == [1]
