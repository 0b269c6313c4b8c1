"""Authentication and ownership: JWTs from signUp/logIn, the Bearer viewer, refused tokens,
argon2 password hashes, and FORBIDDEN for other people's reviews and comments."""

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from bson import ObjectId

from devtools.embedded import Servers
from tests.support.app import AppUnderTest, GraphQLClient, app_settings, running_app
from tests.support.documents import gid, insert_author, insert_book, oid_of, quick_user
from tests.support.operations import (
    BOOK_PAGE_QUERY,
    CLEAR,
    COMMENT,
    DELETE_COMMENT,
    DELETE_REVIEW,
    FOLLOW_AUTHOR,
    FOLLOW_USER,
    LIKE,
    RATE,
    SHELF,
    UNFOLLOW_AUTHOR,
    UNFOLLOW_USER,
    UNLIKE,
    WRITE,
    write_review,
)
from tests.support.snapshots import snapshot

LOG_IN = (
    "mutation($u: String!, $p: String!)"
    " { logIn(username: $u, password: $p) { token user { id username } } }"
)
VIEWER = "{ viewer { id username } }"


def _claims(app: AppUnderTest, token: str) -> dict[str, Any]:
    secret = app.settings.jwt_secret
    assert secret
    return jwt.decode(token, secret, algorithms=["HS256"])  # type: ignore[no-any-return]


# --- tokens from signUp and logIn ---------------------------------------------------------------


async def test_sign_up_returns_a_jwt_naming_the_user(app: AppUnderTest, gql: GraphQLClient) -> None:
    token, user_id = await gql.sign_up("jwt_reader")
    assert token.count(".") == 2
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = _claims(app, token)
    assert claims["sub"] == str(oid_of(user_id))
    assert claims["exp"] > claims["iat"]
    viewer = await gql.data(VIEWER, token=token)
    assert viewer["viewer"] == {"id": user_id, "username": "jwt_reader"}


async def test_no_credentials_means_no_viewer(gql: GraphQLClient) -> None:
    await gql.sign_up()
    assert (await gql.data(VIEWER))["viewer"] is None


async def test_log_in_returns_a_token_for_the_user(app: AppUnderTest, gql: GraphQLClient) -> None:
    _, user_id = await gql.sign_up("returning", password="s3cret-enough")
    data = await gql.data(LOG_IN, {"u": "returning", "p": "s3cret-enough"})
    assert data["logIn"]["user"] == {"id": user_id, "username": "returning"}
    token = data["logIn"]["token"]
    assert _claims(app, token)["sub"] == str(oid_of(user_id))
    assert (await gql.data(VIEWER, token=token))["viewer"]["id"] == user_id
    # The token works for mutations too.
    book = await insert_book(app)
    rated = await gql.data(RATE, {"b": gid("Book", book), "s": 5}, token)
    assert rated["rateBook"]["user"]["id"] == user_id


async def test_log_in_ignores_the_usernames_case(gql: GraphQLClient) -> None:
    _, user_id = await gql.sign_up("MixedCase", password="s3cret-enough")
    data = await gql.data(LOG_IN, {"u": "mixedcase", "p": "s3cret-enough"})
    assert data["logIn"]["user"]["id"] == user_id


async def test_wrong_password_and_unknown_user_get_the_same_refusal(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    await gql.sign_up("known_user", password="right-password")
    before = await snapshot(app)
    wrong = await gql.error(LOG_IN, {"u": "known_user", "p": "wrong-password"})
    unknown = await gql.error(LOG_IN, {"u": "nobody_here", "p": "right-password"})
    empty = await gql.error(LOG_IN, {"u": "known_user", "p": ""})
    assert wrong.code == unknown.code == empty.code == "UNAUTHENTICATED"
    messages = {e.errors[0]["message"] for e in (wrong, unknown, empty)}
    assert len(messages) == 1
    assert "password" in messages.pop()
    assert await snapshot(app) == before


async def test_a_burst_of_log_ins_does_not_hold_other_requests(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    # argon2 costs tens of milliseconds by design; on the event loop, 10 concurrent log-ins
    # held every other request for several hashes. Off the loop, a cheap query waits at most
    # about one hash. Both costs are measured here, in the same run (the issue asks for this
    # relative comparison): one log-in alone, and the slowest cheap query during the burst.
    await gql.sign_up("burst_user", password="right-password")
    wrong = {"u": "burst_user", "p": "wrong-password"}

    async def timed(query: str, variables: dict[str, Any] | None = None) -> float:
        started = time.perf_counter()
        await gql.execute(query, variables)
        return time.perf_counter() - started

    one_log_in = sorted([await timed(LOG_IN, wrong) for _ in range(3)])[1]
    burst = [asyncio.create_task(timed(LOG_IN, wrong)) for _ in range(10)]
    await asyncio.sleep(0)  # the log-ins have started
    cheap = []
    while not all(task.done() for task in burst):
        cheap.append(await timed("{ __typename }"))
    await asyncio.gather(*burst)
    assert len(cheap) >= 3, "the burst ended before the queries could run beside it"
    assert max(cheap) < one_log_in, (max(cheap), one_log_in, cheap)


async def test_passwords_are_stored_as_argon2_hashes(app: AppUnderTest, gql: GraphQLClient) -> None:
    password = "plain-text-never-stored"
    _, user_id = await gql.sign_up("hashed_user", password=password)
    doc = await app.services.store.users.find_one({"_id": oid_of(user_id)})
    assert doc is not None
    assert doc["password_hash"].startswith("$argon2")
    assert password not in json.dumps(doc, default=str)
    # Two users with the same password get different hashes (salted).
    _, other_id = await gql.sign_up("hashed_user2", password=password)
    other = await app.services.store.users.find_one({"_id": oid_of(other_id)})
    assert other is not None
    assert other["password_hash"] != doc["password_hash"]


# --- every mutation needs a viewer ------------------------------------------------------------


@dataclass
class World:
    """Existing targets for every mutation, so that only the credentials are at fault."""

    book: str
    author: str
    user: str
    review: str
    comment: str


@pytest.fixture
async def world(app: AppUnderTest) -> World:
    gql = app.client
    book = await insert_book(app)
    author = await insert_author(app)
    token, user_id = await quick_user(app)
    review = await write_review(gql, token, book, "A review to act on.")
    comment = (await gql.data(COMMENT, {"r": review["id"], "t": "A comment"}, token))["addComment"]
    return World(gid("Book", book), gid("Author", author), user_id, review["id"], comment["id"])


MUTATIONS: dict[str, tuple[str, Any]] = {
    "rateBook": (RATE, lambda w: {"b": w.book, "s": 4}),
    "clearRating": (CLEAR, lambda w: {"b": w.book}),
    "setShelf": (SHELF, lambda w: {"b": w.book, "s": "READ"}),
    "setShelfNull": (SHELF, lambda w: {"b": w.book, "s": None}),
    "writeReview": (WRITE, lambda w: {"i": {"bookId": w.book, "text": "Sneaky"}}),
    "deleteReview": (DELETE_REVIEW, lambda w: {"id": w.review}),
    "likeReview": (LIKE, lambda w: {"r": w.review}),
    "unlikeReview": (UNLIKE, lambda w: {"r": w.review}),
    "addComment": (COMMENT, lambda w: {"r": w.review, "t": "Sneaky"}),
    "deleteComment": (DELETE_COMMENT, lambda w: {"id": w.comment}),
    "followUser": (FOLLOW_USER, lambda w: {"u": w.user}),
    "unfollowUser": (UNFOLLOW_USER, lambda w: {"u": w.user}),
    "followAuthor": (FOLLOW_AUTHOR, lambda w: {"a": w.author}),
    "unfollowAuthor": (UNFOLLOW_AUTHOR, lambda w: {"a": w.author}),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
async def test_every_mutation_needs_a_viewer(
    app: AppUnderTest, gql: GraphQLClient, world: World, name: str
) -> None:
    document, variables = MUTATIONS[name]
    before = await snapshot(app)
    error = await gql.error(document, variables(world))
    assert error.code == "UNAUTHENTICATED"
    assert error.errors[0]["path"][0] == name.removesuffix("Null")
    assert await snapshot(app) == before


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _bad_token(
    kind: str, app: AppUnderTest, good: str, user_id: ObjectId, other_id: ObjectId
) -> str:
    secret = app.settings.jwt_secret
    assert secret
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "iat": now, "exp": now + timedelta(hours=1)}
    if kind == "tampered":
        # Someone else's id in the payload, the original signature kept.
        header, payload, signature = good.split(".")
        forged = {**_claims(app, good), "sub": str(other_id)}
        return f"{header}.{_b64(forged)}.{signature}"
    if kind == "bad-signature":
        header, payload, signature = good.split(".")
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        return f"{header}.{payload}.{flipped}"
    if kind == "expired":
        past = {
            "sub": str(user_id),
            "iat": now - timedelta(hours=2),
            "exp": now - timedelta(hours=1),
        }
        return jwt.encode(past, secret, algorithm="HS256")
    if kind == "other-key":
        return jwt.encode(claims, "another-secret-" + "y" * 32, algorithm="HS256")
    if kind == "alg-none":
        return jwt.encode(claims, None, algorithm="none")
    if kind == "no-expiry":
        return jwt.encode({"sub": str(user_id)}, secret, algorithm="HS256")
    if kind == "bad-subject":
        return jwt.encode({**claims, "sub": "not-an-object-id"}, secret, algorithm="HS256")
    if kind == "garbage":
        return "not-a-jwt"
    raise AssertionError(kind)


BAD_TOKENS = [
    "tampered",
    "bad-signature",
    "expired",
    "other-key",
    "alg-none",
    "no-expiry",
    "bad-subject",
    "garbage",
]


@pytest.mark.parametrize("kind", BAD_TOKENS)
async def test_refused_tokens_identify_nobody(
    app: AppUnderTest, gql: GraphQLClient, kind: str
) -> None:
    good, user_id = await gql.sign_up()
    _, other_id = await gql.sign_up()
    book = await insert_book(app)
    token = _bad_token(kind, app, good, oid_of(user_id), oid_of(other_id))
    assert (await gql.data(VIEWER, token=token))["viewer"] is None

    before = await snapshot(app)
    error = await gql.error(RATE, {"b": gid("Book", book), "s": 3}, token)
    assert error.code == "UNAUTHENTICATED"
    error = await gql.error(FOLLOW_USER, {"u": other_id}, token)
    assert error.code == "UNAUTHENTICATED"
    assert await snapshot(app) == before
    # The genuine token still works, so the refusal is about the token alone.
    assert (await gql.data(VIEWER, token=good))["viewer"]["id"] == user_id


async def test_a_valid_token_for_a_deleted_user_identifies_nobody(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    token, user_id = await gql.sign_up()
    await app.services.store.users.delete_one({"_id": oid_of(user_id)})
    assert (await gql.data(VIEWER, token=token))["viewer"] is None


@pytest.mark.parametrize("name", list(MUTATIONS))
async def test_a_deleted_users_token_cannot_write(
    app: AppUnderTest, gql: GraphQLClient, world: World, name: str
) -> None:
    # A correctly signed token whose user was deleted outside the API (or lost in a restore).
    token, user_id = await quick_user(app)
    await app.services.store.users.delete_one({"_id": oid_of(user_id)})
    document, variables = MUTATIONS[name]
    before = await snapshot(app)
    error = await gql.error(document, variables(world), token)
    assert error.code == "UNAUTHENTICATED"
    assert "no longer exists" in error.errors[0]["message"]
    assert error.errors[0]["path"][0] == name.removesuffix("Null")
    assert await snapshot(app) == before


DELETED_READER = {
    "id": gid("User", ObjectId("0" * 24)),
    "username": "[deleted]",
    "displayName": "deleted reader",
    "avatarUrl": None,
    "reviewsCount": 0,
    "followersCount": 0,
    "authoredBooksCount": 0,
    "viewerIsFollowing": False,
}
REVIEW_WITH_USERS = """
query($r: ID!) {
  review(id: $r) {
    text
    user { id username displayName avatarUrl reviewsCount followersCount
           authoredBooksCount viewerIsFollowing }
    comments { edges { node { text user { id displayName } } } }
  }
}
"""


@pytest.mark.parametrize("execution", ["compiled", "planned", "stock"])
async def test_reviews_of_a_deleted_user_show_a_deleted_reader(
    servers: Servers, execution: str
) -> None:
    settings = app_settings(servers.mongodb_url, servers.redis_url, execution=execution)
    async with running_app(settings) as app:
        await _show_a_deleted_reader(app, app.client)


async def _show_a_deleted_reader(app: AppUnderTest, gql: GraphQLClient) -> None:
    book = await insert_book(app)
    gone_token, gone_id = await quick_user(app)
    kept_token, kept_id = await quick_user(app)
    gone_review = await write_review(gql, gone_token, book, "Written before leaving.")
    await write_review(gql, kept_token, book, "Still here.")
    await gql.data(COMMENT, {"r": gone_review["id"], "t": "A parting comment"}, gone_token)
    await app.services.store.users.delete_one({"_id": oid_of(gone_id)})

    # The anonymous page and a reader's page (the second execution of a document is compiled).
    for token in (None, kept_token):
        page = await gql.data(BOOK_PAGE_QUERY, {"id": gid("Book", book)}, token)
        users = {
            edge["node"]["text"]: edge["node"]["user"] for edge in page["book"]["reviews"]["edges"]
        }
        assert users["Written before leaving."] == DELETED_READER
        assert users["Still here."]["id"] == kept_id
        # A review and its comments read one by one (the loaders' path).
        review = (await gql.data(REVIEW_WITH_USERS, {"r": gone_review["id"]}, token))["review"]
        assert review["user"] == DELETED_READER
        [comment] = review["comments"]["edges"]
        assert comment["node"]["user"] == {
            "id": DELETED_READER["id"],
            "displayName": "deleted reader",
        }


async def test_other_authorization_schemes_are_not_credentials(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    token, _ = await gql.sign_up()
    response = await gql.http.post(
        "/graphql", json={"query": VIEWER}, headers={"authorization": f"Basic {token}"}
    )
    assert response.json()["data"]["viewer"] is None


# --- ownership ------------------------------------------------------------------------------------


async def test_only_the_owner_deletes_a_review(app: AppUnderTest, gql: GraphQLClient) -> None:
    book = await insert_book(app)
    owner, _ = await gql.sign_up()
    intruder, _ = await gql.sign_up()
    review = await write_review(gql, owner, book, "Mine to delete.")
    await gql.data(LIKE, {"r": review["id"]}, intruder)
    await gql.data(COMMENT, {"r": review["id"], "t": "hi"}, intruder)

    before = await snapshot(app)
    error = await gql.error(DELETE_REVIEW, {"id": review["id"]}, intruder)
    assert error.code == "FORBIDDEN"
    assert error.errors[0]["extensions"]["field"] == "id"
    assert await snapshot(app) == before
    assert (await gql.data(DELETE_REVIEW, {"id": review["id"]}, owner))["deleteReview"] is True


async def test_only_the_author_of_a_comment_deletes_it(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    review_owner, _ = await gql.sign_up()
    commenter, _ = await gql.sign_up()
    stranger, _ = await gql.sign_up()
    review = await write_review(gql, review_owner, book, "Comment on this.")
    comment = (await gql.data(COMMENT, {"r": review["id"], "t": "Mine"}, commenter))["addComment"]

    before = await snapshot(app)
    for token in (stranger, review_owner):  # owning the review does not make it your comment
        error = await gql.error(DELETE_COMMENT, {"id": comment["id"]}, token)
        assert error.code == "FORBIDDEN"
        assert error.errors[0]["extensions"]["field"] == "id"
    assert await snapshot(app) == before
    assert (await gql.data(DELETE_COMMENT, {"id": comment["id"]}, commenter))["deleteComment"]
    assert await app.services.store.comments.count_documents({}) == 0
