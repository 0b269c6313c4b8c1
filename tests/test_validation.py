"""Refused input: BAD_USER_INPUT naming the field, NOT_FOUND for ids that name nothing, and in
every case nothing written: every document of every collection (the outbox too) and every
entry of the event stream are compared before and after (tests/support/snapshots.py),
including refusals aimed at the viewer's existing entry, likes, comments and follows, where
no count could change."""

from dataclasses import dataclass
from typing import Any

import pytest
from bson import ObjectId

from tests.support.app import AppUnderTest, GraphQLClient
from tests.support.documents import gid, insert_author, insert_book, oid_of, quick_user
from tests.support.operations import (
    CLEAR,
    COMMENT,
    DELETE_COMMENT,
    DELETE_REVIEW,
    FOLLOW_AUTHOR,
    FOLLOW_USER,
    LIKE,
    RATE,
    SHELF,
    SIGN_UP,
    UNFOLLOW_AUTHOR,
    UNFOLLOW_USER,
    UNLIKE,
    VIEWER_REVIEW,
    WRITE,
    write_review,
)
from tests.support.snapshots import snapshot

MAX_TEXT = 20_000


@dataclass
class World:
    token: str  # the viewer
    me: str
    book: str
    author: str
    other_user: str
    review: str  # the other user's review
    comment: str


@pytest.fixture
async def world(app: AppUnderTest) -> World:
    gql = app.client
    assert app.settings.max_text_length == MAX_TEXT
    book = await insert_book(app)
    author = await insert_author(app)
    await quick_user(app, "Taken_Name")
    other, other_id = await quick_user(app)
    token, me = await quick_user(app)
    review = await write_review(gql, other, book, "Someone else's words.", rating=4)
    comment = (await gql.data(COMMENT, {"r": review["id"], "t": "First!"}, other))["addComment"]
    return World(
        token, me, gid("Book", book), gid("Author", author), other_id, review["id"], comment["id"]
    )


def missing(type_name: str) -> str:
    return gid(type_name, ObjectId())


def review_input(w: World, **fields: Any) -> dict[str, Any]:
    return {"i": {"bookId": w.book, "text": "Fine words.", **fields}}


# (document, variables from the world, expected field)
BAD_INPUT: dict[str, tuple[str, Any, str]] = {
    # stars
    "rate-0-stars": (RATE, lambda w: {"b": w.book, "s": 0}, "stars"),
    "rate-6-stars": (RATE, lambda w: {"b": w.book, "s": 6}, "stars"),
    "rate-negative-stars": (RATE, lambda w: {"b": w.book, "s": -1}, "stars"),
    "review-rating-0": (WRITE, lambda w: review_input(w, rating=0), "input.rating"),
    "review-rating-6": (WRITE, lambda w: review_input(w, rating=6), "input.rating"),
    # texts
    "review-empty": (WRITE, lambda w: review_input(w, text=""), "input.text"),
    "review-blank": (WRITE, lambda w: review_input(w, text=" \n\t  "), "input.text"),
    "review-too-long": (WRITE, lambda w: review_input(w, text="x" * (MAX_TEXT + 1)), "input.text"),
    "comment-empty": (COMMENT, lambda w: {"r": w.review, "t": ""}, "text"),
    "comment-blank": (COMMENT, lambda w: {"r": w.review, "t": "   \n "}, "text"),
    "comment-too-long": (COMMENT, lambda w: {"r": w.review, "t": "y" * (MAX_TEXT + 1)}, "text"),
    # texts that show nothing: zero-width characters, a lone byte-order mark, blank letters
    "review-zero-width": (
        WRITE,
        lambda w: review_input(w, text="\u200b\u200c\u200d\u2060"),
        "input.text",
    ),
    "review-lone-bom": (WRITE, lambda w: review_input(w, text="\ufeff"), "input.text"),
    "review-blank-letters": (WRITE, lambda w: review_input(w, text="\u3164 \u2800"), "input.text"),
    "comment-zero-width": (COMMENT, lambda w: {"r": w.review, "t": "\u200b" * 5}, "text"),
    "comment-lone-bom": (COMMENT, lambda w: {"r": w.review, "t": "\ufeff"}, "text"),
    # malformed ids: garbage, and valid ids of the wrong type
    "rate-garbage-id": (RATE, lambda w: {"b": "garbage", "s": 3}, "bookId"),
    "rate-user-id": (RATE, lambda w: {"b": w.me, "s": 3}, "bookId"),
    "clear-author-id": (CLEAR, lambda w: {"b": w.author}, "bookId"),
    "shelf-review-id": (SHELF, lambda w: {"b": w.review, "s": "READ"}, "bookId"),
    "review-user-id": (
        WRITE,
        lambda w: {"i": {"bookId": w.other_user, "text": "x"}},
        "input.bookId",
    ),
    "delete-review-garbage": (DELETE_REVIEW, lambda w: {"id": "%%%"}, "id"),
    "delete-review-comment-id": (DELETE_REVIEW, lambda w: {"id": w.comment}, "id"),
    "like-book-id": (LIKE, lambda w: {"r": w.book}, "reviewId"),
    "unlike-garbage": (UNLIKE, lambda w: {"r": ""}, "reviewId"),
    "comment-user-id": (COMMENT, lambda w: {"r": w.other_user, "t": "hi"}, "reviewId"),
    "delete-comment-review-id": (DELETE_COMMENT, lambda w: {"id": w.review}, "id"),
    "follow-author-id-as-user": (FOLLOW_USER, lambda w: {"u": w.author}, "userId"),
    "unfollow-user-garbage": (UNFOLLOW_USER, lambda w: {"u": "VXNlcjpub3RoZXg"}, "userId"),
    "follow-user-id-as-author": (FOLLOW_AUTHOR, lambda w: {"a": w.other_user}, "authorId"),
    "unfollow-author-book-id": (UNFOLLOW_AUTHOR, lambda w: {"a": w.book}, "authorId"),
    # following yourself
    "follow-yourself": (FOLLOW_USER, lambda w: {"u": w.me}, "userId"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
async def test_bad_input_is_refused_and_nothing_is_written(
    app: AppUnderTest, gql: GraphQLClient, world: World, case: str
) -> None:
    document, variables, field = BAD_INPUT[case]
    before = await snapshot(app)
    error = await gql.error(document, variables(world), world.token)
    assert error.code == "BAD_USER_INPUT", error.errors
    assert error.errors[0]["extensions"]["field"] == field
    assert field in error.errors[0]["message"]
    assert await snapshot(app) == before


SIGN_UP_CASES: dict[str, tuple[dict[str, str], str]] = {
    "username-too-short": ({"username": "ab", "password": "long-enough"}, "input.username"),
    "username-too-long": ({"username": "a" * 31, "password": "long-enough"}, "input.username"),
    "username-space": ({"username": "bad name", "password": "long-enough"}, "input.username"),
    "username-symbol": ({"username": "bad!name", "password": "long-enough"}, "input.username"),
    "username-empty": ({"username": "", "password": "long-enough"}, "input.username"),
    "password-too-short": ({"username": "good_name", "password": "short"}, "input.password"),
    "password-blank": ({"username": "good_name", "password": " " * 10}, "input.password"),
    "username-taken": ({"username": "Taken_Name", "password": "long-enough"}, "input.username"),
    "username-taken-other-case": (
        {"username": "tAKEN_nAME", "password": "long-enough"},
        "input.username",
    ),
    "display-name-blank": (
        {"username": "good_name", "password": "long-enough", "displayName": "  "},
        "input.displayName",
    ),
    # `$` matched before a final newline: "Taken_Name\n" was a second account.
    "username-trailing-newline": (
        {"username": "Taken_Name\n", "password": "long-enough"},
        "input.username",
    ),
    "username-new-with-newline": (
        {"username": "good_name\n", "password": "long-enough"},
        "input.username",
    ),
    # passwords: the most common ones (any case), and only invisible characters
    **{
        f"password-common-{password}": (
            {"username": "good_name", "password": password},
            "input.password",
        )
        for password in ("password", "12345678", "PassWord", "qwertyuiop", "iloveyou")
    },
    "password-zero-width": ({"username": "good_name", "password": "\u200b" * 8}, "input.password"),
    "password-boms": ({"username": "good_name", "password": "\ufeff" * 8}, "input.password"),
    # display names: formatting characters, and another reader's name
    **{
        f"display-name-{kind}": (
            {"username": "good_name", "password": "long-enough", "displayName": name},
            "input.displayName",
        )
        for kind, name in {
            "rtl-override": "\u202eTaken_Name",
            "rtl-isolate": "Zara \u2067evil\u2069",
            "zero-width": "Za\u200bra",
            "newline": "Zara\nSmith",
            "line-separator": "Zara\u2028Smith",
            "only-invisible": "\u3164\u3164",
            "another-username": "taken_name",
            "another-display-name": "QUICK USER",
            # "Ｔａｋｅｎ＿Ｎａｍｅ" (fullwidth), NFKC-equal to "Taken_Name"
            "another-username-fullwidth": "".join(chr(ord(c) + 0xFEE0) for c in "Taken_Name"),
            "the-deleted-reader": "Deleted Reader",
        }.items()
    },
}


@pytest.mark.parametrize("case", list(SIGN_UP_CASES))
async def test_bad_sign_up_is_refused_and_nothing_is_written(
    app: AppUnderTest, gql: GraphQLClient, world: World, case: str
) -> None:
    fields, field = SIGN_UP_CASES[case]
    before = await snapshot(app)
    error = await gql.error(SIGN_UP, {"i": fields})
    assert error.code == "BAD_USER_INPUT", error.errors
    assert error.errors[0]["extensions"]["field"] == field
    assert field in error.errors[0]["message"]
    assert await snapshot(app) == before


async def test_a_display_name_is_one_readers_alone(app: AppUnderTest, gql: GraphQLClient) -> None:
    query = "mutation($i: SignUpInput!) { signUp(input: $i) { user { displayName } } }"
    names = ["Zoë Ça", "李小龙", "Anna 📚", "Rosa (she/her)", "zara"]
    for i, name in enumerate(names):
        fields = {"username": f"named_{i}", "password": "long-enough", "displayName": name}
        data = await gql.data(query, {"i": fields})
        assert data["signUp"]["user"]["displayName"] == name
    # Then nobody else may take one of them, in any case or width, nor a username that is one
    # (without a displayName, the username is the display name).
    before = await snapshot(app)
    for fields in (
        {"username": "copycat", "password": "long-enough", "displayName": "ZOË ÇA"},
        {"username": "copycat", "password": "long-enough", "displayName": "named_0"},
        {"username": "Zara", "password": "long-enough"},
    ):
        error = await gql.error(SIGN_UP, {"i": fields})
        assert error.errors[0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "input.displayName",
        }
    assert await snapshot(app) == before
    # A reader's display name may be their own username (the default).
    data = await gql.data(query, {"i": {"username": "Own_Name", "password": "long-enough"}})
    assert data["signUp"]["user"]["displayName"] == "Own_Name"


async def test_usernames_at_the_limits_are_accepted(app: AppUnderTest, gql: GraphQLClient) -> None:
    for name in ("abc", "a" * 30, "A.b-c_9"):
        token, user_id = await gql.sign_up(name, password="8 chars!")
        viewer = await gql.data("{ viewer { id username displayName } }", token=token)
        assert viewer["viewer"] == {"id": user_id, "username": name, "displayName": name}
        stored = await app.services.store.users.find_one({"_id": oid_of(user_id)})
        assert stored is not None
        assert (stored["username"], stored["username_key"]) == (name, name.lower())


NOT_FOUND: dict[str, tuple[str, Any, str]] = {
    "rate-missing-book": (RATE, lambda w: {"b": missing("Book"), "s": 4}, "bookId"),
    "clear-missing-book": (CLEAR, lambda w: {"b": missing("Book")}, "bookId"),
    "shelf-missing-book": (SHELF, lambda w: {"b": missing("Book"), "s": "READ"}, "bookId"),
    "review-missing-book": (
        WRITE,
        lambda w: {"i": {"bookId": missing("Book"), "text": "Words"}},
        "bookId",
    ),
    "delete-missing-review": (DELETE_REVIEW, lambda w: {"id": missing("Review")}, "id"),
    "like-missing-review": (LIKE, lambda w: {"r": missing("Review")}, "reviewId"),
    "unlike-missing-review": (UNLIKE, lambda w: {"r": missing("Review")}, "reviewId"),
    "comment-missing-review": (COMMENT, lambda w: {"r": missing("Review"), "t": "hi"}, "reviewId"),
    "delete-missing-comment": (DELETE_COMMENT, lambda w: {"id": missing("Comment")}, "id"),
    "follow-missing-user": (FOLLOW_USER, lambda w: {"u": missing("User")}, "userId"),
    "unfollow-missing-user": (UNFOLLOW_USER, lambda w: {"u": missing("User")}, "userId"),
    "follow-missing-author": (FOLLOW_AUTHOR, lambda w: {"a": missing("Author")}, "authorId"),
    "unfollow-missing-author": (UNFOLLOW_AUTHOR, lambda w: {"a": missing("Author")}, "authorId"),
}


@pytest.mark.parametrize("case", list(NOT_FOUND))
async def test_ids_naming_nothing_are_not_found_and_nothing_is_written(
    app: AppUnderTest, gql: GraphQLClient, world: World, case: str
) -> None:
    document, variables, field = NOT_FOUND[case]
    before = await snapshot(app)
    error = await gql.error(document, variables(world), world.token)
    assert error.code == "NOT_FOUND", error.errors
    assert error.errors[0]["extensions"]["field"].endswith(field)
    assert await snapshot(app) == before


# --- the text limit is inclusive ------------------------------------------------------------------


async def test_texts_of_exactly_the_limit_are_accepted(
    app: AppUnderTest, gql: GraphQLClient, world: World
) -> None:
    longest = "z" * MAX_TEXT
    review = (await gql.data(WRITE, review_input(world, text=longest), world.token))["writeReview"]
    assert len(review["text"]) == MAX_TEXT
    comment = (await gql.data(COMMENT, {"r": world.review, "t": longest}, world.token))[
        "addComment"
    ]
    assert len(comment["text"]) == MAX_TEXT
    store = app.services.store
    assert await store.reviews.count_documents({"text": longest}) == 1
    assert await store.comments.count_documents({"text": longest}) == 1


async def test_stars_at_the_limits_are_accepted(gql: GraphQLClient, world: World) -> None:
    for stars in (1, 5):
        rated = await gql.data(RATE, {"b": world.book, "s": stars}, world.token)
        assert rated["rateBook"]["rating"] == stars
    written = await gql.data(WRITE, review_input(world, rating=1), world.token)
    assert written["writeReview"]["rating"] == 1


# --- `first` on every connection ------------------------------------------------------------------

CONNECTIONS: dict[str, str] = {
    "books": "query($f: Int) { books(first: $f) { totalCount } }",
    "book.reviews": (
        "query($f: Int, $b: ID!) { book(id: $b) { reviews(first: $f) { totalCount } } }"
    ),
    "book.friendsReviews": (
        "query($f: Int, $b: ID!) { book(id: $b) { friendsReviews(first: $f) { totalCount } } }"
    ),
    "author.books": (
        "query($f: Int, $a: ID!) { author(id: $a) { books(first: $f) { totalCount } } }"
    ),
    "user.reviews": (
        "query($f: Int, $u: String!) { user(username: $u) { reviews(first: $f) { totalCount } } }"
    ),
    "review.comments": (
        "query($f: Int, $r: ID!) { review(id: $r) { comments(first: $f) { totalCount } } }"
    ),
}


@pytest.mark.parametrize("first", [0, -1, 101, 10_000])
@pytest.mark.parametrize("connection", list(CONNECTIONS))
async def test_first_outside_1_to_100_is_refused(
    app: AppUnderTest, gql: GraphQLClient, world: World, connection: str, first: int
) -> None:
    variables = {
        "f": first,
        "b": world.book,
        "a": world.author,
        "u": "Taken_Name",
        "r": world.review,
    }
    query = CONNECTIONS[connection]
    used = {k: v for k, v in variables.items() if f"${k}" in query}
    before = await snapshot(app)
    error = await gql.error(query, used, world.token)
    assert error.code == "BAD_USER_INPUT"
    assert error.errors[0]["extensions"]["field"] == "first"
    assert "first" in error.errors[0]["message"]
    assert await snapshot(app) == before


@pytest.mark.parametrize("first", [1, 100])
async def test_first_at_the_limits_is_accepted(
    gql: GraphQLClient, world: World, first: int
) -> None:
    for connection, query in CONNECTIONS.items():
        variables = {
            "f": first,
            "b": world.book,
            "a": world.author,
            "u": "Taken_Name",
            "r": world.review,
        }
        used = {k: v for k, v in variables.items() if f"${k}" in query}
        result = await gql.execute(query, used, world.token)
        assert not result.get("errors"), (connection, result)


# --- refusals aimed at what the viewer already has ---------------------------------------------


@dataclass
class Owned:
    """A viewer with an entry (rated, reviewed, on a shelf), a like, comments and follows."""

    token: str
    me: str
    username: str
    other_token: str  # a second user, whose review the viewer liked
    other: str
    book: str
    author: str
    entry: str  # the viewer's entry for the book
    my_comment: str  # the viewer's comment on their own entry
    other_review: str


@pytest.fixture
async def owned(app: AppUnderTest) -> Owned:
    gql = app.client
    book, author = gid("Book", await insert_book(app)), gid("Author", await insert_author(app))
    token, me = await quick_user(app, "Owner_Name")
    other_token, other = await quick_user(app)
    await gql.data(RATE, {"b": book, "s": 3}, token)
    written = {"bookId": book, "text": "My own words.", "spoiler": True}
    entry = (await gql.data(WRITE, {"i": written}, token))["writeReview"]["id"]
    await gql.data(SHELF, {"b": book, "s": "CURRENTLY_READING"}, token)
    other_review = (await gql.data(WRITE, {"i": {"bookId": book, "text": "Mine."}}, other_token))[
        "writeReview"
    ]["id"]
    await gql.data(LIKE, {"r": other_review}, token)
    comment = await gql.data(COMMENT, {"r": entry, "t": "A note to self."}, token)
    await gql.data(COMMENT, {"r": entry, "t": "Not yours to delete."}, other_token)
    await gql.data(FOLLOW_USER, {"u": other}, token)
    await gql.data(FOLLOW_AUTHOR, {"a": author}, token)
    return Owned(
        token,
        me,
        "Owner_Name",
        other_token,
        other,
        book,
        author,
        entry,
        comment["addComment"]["id"],
        other_review,
    )


# (document, variables, whose token ("me", "other", "nobody"), expected code, expected field)
AGAINST_EXISTING: dict[str, tuple[str, Any, str, str, str]] = {
    "re-rate-6-stars": (RATE, lambda o: {"b": o.book, "s": 6}, "me", "BAD_USER_INPUT", "stars"),
    "re-rate-0-stars": (RATE, lambda o: {"b": o.book, "s": 0}, "me", "BAD_USER_INPUT", "stars"),
    "edit-review-too-long": (
        WRITE,
        lambda o: {"i": {"bookId": o.book, "text": "x" * (MAX_TEXT + 1), "rating": 5}},
        "me",
        "BAD_USER_INPUT",
        "input.text",
    ),
    "edit-review-blank": (
        WRITE,
        lambda o: {"i": {"bookId": o.book, "text": "  ", "spoiler": False}},
        "me",
        "BAD_USER_INPUT",
        "input.text",
    ),
    "edit-review-rating-6": (
        WRITE,
        lambda o: {"i": {"bookId": o.book, "text": "New words.", "rating": 6}},
        "me",
        "BAD_USER_INPUT",
        "input.rating",
    ),
    "clear-with-the-entry-id": (
        CLEAR,
        lambda o: {"b": o.entry},
        "me",
        "BAD_USER_INPUT",
        "bookId",
    ),
    "reshelve-with-the-entry-id": (
        SHELF,
        lambda o: {"b": o.entry, "s": None},
        "me",
        "BAD_USER_INPUT",
        "bookId",
    ),
    "delete-someone-elses-entry": (
        DELETE_REVIEW,
        lambda o: {"id": o.entry},
        "other",
        "FORBIDDEN",
        "id",
    ),
    "unlike-with-a-book-id": (UNLIKE, lambda o: {"r": o.book}, "me", "BAD_USER_INPUT", "reviewId"),
    "comment-too-long": (
        COMMENT,
        lambda o: {"r": o.entry, "t": "y" * (MAX_TEXT + 1)},
        "me",
        "BAD_USER_INPUT",
        "text",
    ),
    "delete-someone-elses-comment": (
        DELETE_COMMENT,
        lambda o: {"id": o.my_comment},
        "other",
        "FORBIDDEN",
        "id",
    ),
    "follow-yourself-while-following": (
        FOLLOW_USER,
        lambda o: {"u": o.me},
        "me",
        "BAD_USER_INPUT",
        "userId",
    ),
    "unfollow-user-with-an-author-id": (
        UNFOLLOW_USER,
        lambda o: {"u": o.author},
        "me",
        "BAD_USER_INPUT",
        "userId",
    ),
    "unfollow-author-with-a-user-id": (
        UNFOLLOW_AUTHOR,
        lambda o: {"a": o.other},
        "me",
        "BAD_USER_INPUT",
        "authorId",
    ),
    "sign-up-as-the-owner": (
        SIGN_UP,
        lambda o: {"i": {"username": o.username.upper(), "password": "long-enough"}},
        "nobody",
        "BAD_USER_INPUT",
        "input.username",
    ),
}


@pytest.mark.parametrize("case", list(AGAINST_EXISTING))
async def test_refusals_leave_existing_entries_as_they_were(
    app: AppUnderTest, gql: GraphQLClient, owned: Owned, case: str
) -> None:
    document, variables, who, code, field = AGAINST_EXISTING[case]
    token = {"me": owned.token, "other": owned.other_token, "nobody": None}[who]
    before = await snapshot(app)
    mine_before = await gql.data(VIEWER_REVIEW, {"b": owned.book}, owned.token)
    error = await gql.error(document, variables(owned), token)
    assert error.code == code, error.errors
    assert error.errors[0]["extensions"]["field"] == field
    assert await snapshot(app) == before
    assert await gql.data(VIEWER_REVIEW, {"b": owned.book}, owned.token) == mine_before


async def test_the_snapshot_sees_an_existing_document_change(
    app: AppUnderTest, owned: Owned
) -> None:
    """The comparison above could not fail if a snapshot missed an edit that keeps counts."""
    before = await snapshot(app)
    entry = {"_id": oid_of(owned.entry)}
    await app.services.store.reviews.update_one(entry, {"$set": {"rating": 4}})
    after = await snapshot(app)
    changed = {
        name for name, docs in after["documents"].items() if docs != before["documents"][name]
    }
    assert changed == {"reviews"}
    assert after["stream"] == before["stream"]
    assert {k: len(v) for k, v in after["documents"].items()} == {
        k: len(v) for k, v in before["documents"].items()
    }
