"""Every field of Query, through GraphQL over HTTP, and the demo book page rendered by one query.

Source documents are inserted directly into MongoDB (shaped as service/documents.py) where a
test needs data that no mutation is about; aggregates are computed by the reconciler.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from devtools.demo.seed_page import read_seed_page, scaled_count
from service.auth import issue_token
from service.ids import parse_global_id, to_global_id
from service.mongo import Store
from tests.support.app import AppUnderTest, DemoApp, GraphQLClient
from tests.support.documents import review_doc
from tests.support.documents import user_doc as plain_user_doc
from workers.reconcile import reconcile

T0 = datetime(2020, 1, 1, tzinfo=UTC)


# --- documents ---------------------------------------------------------------------------


def author_doc(name: str, bio: str | None = None) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "name": name,
        "bio": bio,
        "photo_url": None,
        "books_count": 0,
        "followers_count": 0,
    }


def book_doc(title: str, author_ids: list[ObjectId] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "title": title,
        "subtitle": None,
        "description": None,
        "page_count": None,
        "format": None,
        "isbn13": None,
        "first_published": None,
        "cover_url": None,
        "genres": [],
        "author_ids": author_ids or [],
        "rating_stats": {"counts": [0, 0, 0, 0, 0], "count": 0, "sum": 0, "updated_at": None},
        "shelf_counts": {"want_to_read": 0, "currently_reading": 0, "read": 0},
        "reviews_count": 0,
        **fields,
    }


def user_doc(username: str, **fields: Any) -> dict[str, Any]:
    """A user whose display name is the title-cased username unless `fields` name one."""
    fields.setdefault("display_name", username.title())
    return plain_user_doc(username, T0, **fields)


def comment_doc(review_id: ObjectId, user_id: ObjectId, text: str) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "review_id": review_id,
        "user_id": user_id,
        "text": text,
        "created_at": T0 + timedelta(days=1),
    }


def gid(type_name: str, doc: dict[str, Any]) -> str:
    return to_global_id(type_name, doc["_id"])


async def insert(store: Store, collection: str, *docs: dict[str, Any]) -> None:
    await store.db[collection].insert_many(list(docs))


# --- node(id) ----------------------------------------------------------------------------

NODE_QUERY = """
query($id: ID!) {
  node(id: $id) {
    __typename
    id
    ... on Book { title }
    ... on Author { name }
    ... on User { username }
    ... on Review { reviewText: text rating }
    ... on Comment { commentText: text }
  }
}
"""


@pytest.fixture
async def one_of_each(app: AppUnderTest) -> dict[str, dict[str, Any]]:
    store = app.services.store
    author = author_doc("Harriet Lerner")
    book = book_doc("The Dance of Anger", [author["_id"]])
    user = user_doc("heather")
    review = review_doc(user["_id"], book["_id"], T0, text="Excellent", rating=5)
    comment = comment_doc(review["_id"], user["_id"], "Agreed")
    await insert(store, "authors", author)
    await insert(store, "books", book)
    await insert(store, "users", user)
    await insert(store, "reviews", review)
    await insert(store, "comments", comment)
    return {"Author": author, "Book": book, "User": user, "Review": review, "Comment": comment}


@pytest.mark.parametrize(
    ("type_name", "field", "expected"),
    [
        ("Book", "title", "The Dance of Anger"),
        ("Author", "name", "Harriet Lerner"),
        ("User", "username", "heather"),
        ("Review", "reviewText", "Excellent"),
        ("Comment", "commentText", "Agreed"),
    ],
)
async def test_node_resolves_each_node_type(
    gql: GraphQLClient,
    one_of_each: dict[str, dict[str, Any]],
    type_name: str,
    field: str,
    expected: str,
) -> None:
    node_id = gid(type_name, one_of_each[type_name])
    node = (await gql.data(NODE_QUERY, {"id": node_id}))["node"]
    assert node["__typename"] == type_name
    assert node["id"] == node_id
    assert node[field] == expected


@pytest.mark.parametrize("type_name", ["Book", "Author", "User", "Review", "Comment"])
async def test_node_is_null_for_a_well_formed_id_of_a_missing_document(
    gql: GraphQLClient, one_of_each: dict[str, dict[str, Any]], type_name: str
) -> None:
    result = await gql.execute(NODE_QUERY, {"id": to_global_id(type_name, ObjectId())})
    assert result.get("errors") is None
    assert result["data"] == {"node": None}


async def test_node_id_of_one_type_does_not_find_a_document_of_another(
    gql: GraphQLClient, one_of_each: dict[str, dict[str, Any]]
) -> None:
    # The book's ObjectId under the Author type names no author.
    result = await gql.data(NODE_QUERY, {"id": to_global_id("Author", one_of_each["Book"]["_id"])})
    assert result == {"node": None}


@pytest.mark.parametrize("bad_id", ["not-an-id", "", to_global_id("Shelf", ObjectId("0" * 24))])
async def test_node_with_a_malformed_id_is_bad_user_input(gql: GraphQLClient, bad_id: str) -> None:
    error = await gql.error(NODE_QUERY, {"id": bad_id})
    assert error.code == "BAD_USER_INPUT"


# --- book, books ---------------------------------------------------------------------------

BOOK_QUERY = """
query($id: ID!) {
  book(id: $id) {
    id title subtitle pageCount format isbn13 firstPublished genres
    authors { id name }
  }
}
"""


async def test_book_by_id(app: AppUnderTest) -> None:
    author = author_doc("Harriet Lerner")
    book = book_doc(
        "The Dance of Anger",
        [author["_id"]],
        subtitle="A Woman's Guide",
        page_count=239,
        format="Hardcover",
        isbn13="9780060741044",
        first_published="1985-03-01",
        genres=["Psychology", "Self Help"],
    )
    await insert(app.services.store, "authors", author)
    await insert(app.services.store, "books", book)

    data = await app.client.data(BOOK_QUERY, {"id": gid("Book", book)})
    assert data["book"] == {
        "id": gid("Book", book),
        "title": "The Dance of Anger",
        "subtitle": "A Woman's Guide",
        "pageCount": 239,
        "format": "Hardcover",
        "isbn13": "9780060741044",
        "firstPublished": "1985-03-01",
        "genres": ["Psychology", "Self Help"],
        "authors": [{"id": gid("Author", author), "name": "Harriet Lerner"}],
    }


async def test_book_of_a_missing_id_is_null(gql: GraphQLClient) -> None:
    result = await gql.execute(BOOK_QUERY, {"id": to_global_id("Book", ObjectId())})
    assert result.get("errors") is None
    assert result["data"] == {"book": None}


async def test_book_with_an_id_of_another_type_is_bad_user_input(gql: GraphQLClient) -> None:
    error = await gql.error(BOOK_QUERY, {"id": to_global_id("Author", ObjectId())})
    assert error.code == "BAD_USER_INPUT"
    assert error.errors[0]["extensions"].get("field") == "id"


BOOKS_QUERY = """
query($search: String, $first: Int, $after: String) {
  books(search: $search, first: $first, after: $after) {
    totalCount
    edges { cursor node { title } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


@pytest.fixture
async def shelf_of_books(app: AppUnderTest) -> list[dict[str, Any]]:
    books = [
        book_doc("The Dance of Anger"),
        book_doc("The Dance of Intimacy", subtitle="A Woman's Guide"),
        book_doc("Marriage Rules"),
        book_doc("The Dance of Connection"),
        book_doc("Why Won't You Apologize?"),
    ]
    await insert(app.services.store, "books", *books)
    return books


async def test_books_search_by_a_title_word(gql: GraphQLClient, shelf_of_books: list[Any]) -> None:
    data = (await gql.data(BOOKS_QUERY, {"search": "dance"}))["books"]
    titles = sorted(e["node"]["title"] for e in data["edges"])
    assert titles == ["The Dance of Anger", "The Dance of Connection", "The Dance of Intimacy"]
    assert data["totalCount"] == 3

    data = (await gql.data(BOOKS_QUERY, {"search": "marriage"}))["books"]
    assert [e["node"]["title"] for e in data["edges"]] == ["Marriage Rules"]
    assert data["totalCount"] == 1

    data = (await gql.data(BOOKS_QUERY, {"search": "zebra"}))["books"]
    assert data["edges"] == []
    assert data["totalCount"] == 0
    assert data["pageInfo"]["hasNextPage"] is False


async def test_books_without_search_lists_every_book(
    gql: GraphQLClient, shelf_of_books: list[Any]
) -> None:
    data = (await gql.data(BOOKS_QUERY, {}))["books"]
    assert sorted(e["node"]["title"] for e in data["edges"]) == sorted(
        b["title"] for b in shelf_of_books
    )
    assert data["totalCount"] == 5


async def test_books_pagination_walks_every_book_once(
    gql: GraphQLClient, shelf_of_books: list[Any]
) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        data = (await gql.data(BOOKS_QUERY, {"first": 2, "after": after}))["books"]
        pages += 1
        assert data["totalCount"] == 5
        assert len(data["edges"]) <= 2
        assert data["pageInfo"]["hasPreviousPage"] is (after is not None)
        assert data["pageInfo"]["startCursor"] == data["edges"][0]["cursor"]
        assert data["pageInfo"]["endCursor"] == data["edges"][-1]["cursor"]
        seen += [e["node"]["title"] for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert pages == 3
    assert sorted(seen) == sorted(b["title"] for b in shelf_of_books)


async def test_books_search_paginates(gql: GraphQLClient, shelf_of_books: list[Any]) -> None:
    first = (await gql.data(BOOKS_QUERY, {"search": "dance", "first": 2}))["books"]
    assert len(first["edges"]) == 2
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    second = (await gql.data(BOOKS_QUERY, {"search": "dance", "first": 2, "after": after}))["books"]
    assert len(second["edges"]) == 1
    assert second["pageInfo"]["hasNextPage"] is False
    titles = {e["node"]["title"] for e in first["edges"] + second["edges"]}
    assert titles == {"The Dance of Anger", "The Dance of Connection", "The Dance of Intimacy"}


# --- author ------------------------------------------------------------------------------

AUTHOR_QUERY = """
query($id: ID!, $first: Int, $after: String) {
  author(id: $id) {
    id name bio booksCount followersCount viewerIsFollowing
    books(first: $first, after: $after) {
      totalCount
      edges { node { id title } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def test_author_with_books_and_books_count(app: AppUnderTest) -> None:
    store = app.services.store
    lerner, other = author_doc("Harriet Lerner", "Clinical psychologist"), author_doc("Someone")
    anger = book_doc("The Dance of Anger", [lerner["_id"]])
    intimacy = book_doc("The Dance of Intimacy", [lerner["_id"]])
    duo = book_doc("Co-written", [other["_id"], lerner["_id"]])
    elsewhere = book_doc("Not hers", [other["_id"]])
    await insert(store, "authors", lerner, other)
    await insert(store, "books", anger, intimacy, duo, elsewhere)
    await reconcile(store, fix=True)

    author = (await app.client.data(AUTHOR_QUERY, {"id": gid("Author", lerner)}))["author"]
    assert author["id"] == gid("Author", lerner)
    assert author["name"] == "Harriet Lerner"
    assert author["bio"] == "Clinical psychologist"
    assert author["booksCount"] == 3
    assert author["followersCount"] == 0
    assert author["viewerIsFollowing"] is False
    assert author["books"]["totalCount"] == 3
    titles = sorted(e["node"]["title"] for e in author["books"]["edges"])
    assert titles == ["Co-written", "The Dance of Anger", "The Dance of Intimacy"]

    # The author's books page by page.
    page1 = await app.client.data(AUTHOR_QUERY, {"id": gid("Author", lerner), "first": 2})
    books1 = page1["author"]["books"]
    assert len(books1["edges"]) == 2
    assert books1["pageInfo"]["hasNextPage"] is True
    page2 = await app.client.data(
        AUTHOR_QUERY,
        {"id": gid("Author", lerner), "first": 2, "after": books1["pageInfo"]["endCursor"]},
    )
    books2 = page2["author"]["books"]
    assert books2["pageInfo"]["hasNextPage"] is False
    both = [e["node"]["title"] for e in books1["edges"] + books2["edges"]]
    assert sorted(both) == titles


async def test_author_of_a_missing_id_is_null(gql: GraphQLClient) -> None:
    assert await gql.data(AUTHOR_QUERY, {"id": to_global_id("Author", ObjectId())}) == {
        "author": None
    }


# --- user(username) ----------------------------------------------------------------------

USER_QUERY = """
query($username: String!) {
  user(username: $username) { id username displayName authoredBooksCount }
}
"""


async def test_user_by_username_is_case_insensitive(app: AppUnderTest) -> None:
    meredith = user_doc("Meredith_Holley", display_name="Meredith Holley", authored_books_count=2)
    await insert(app.services.store, "users", meredith, user_doc("heather"))
    expected = {
        "id": gid("User", meredith),
        "username": "Meredith_Holley",
        "displayName": "Meredith Holley",
        "authoredBooksCount": 2,
    }
    for spelling in ("Meredith_Holley", "meredith_holley", "MEREDITH_HOLLEY", "mErEdItH_hOlLeY"):
        assert (await app.client.data(USER_QUERY, {"username": spelling}))["user"] == expected


async def test_user_of_an_unknown_username_is_null(app: AppUnderTest) -> None:
    await insert(app.services.store, "users", user_doc("heather"))
    for username in ("heathe", "heather2", "", "x" * 200, "heather.*"):
        result = await app.client.execute(USER_QUERY, {"username": username})
        assert result.get("errors") is None, username
        assert result["data"] == {"user": None}, username


async def test_user_signed_up_is_found_by_any_case(gql: GraphQLClient) -> None:
    _, user_id = await gql.sign_up("CamelReader")
    data = await gql.data(USER_QUERY, {"username": "camelreader"})
    assert data["user"]["id"] == user_id
    assert data["user"]["username"] == "CamelReader"


# --- review ------------------------------------------------------------------------------

REVIEW_QUERY = """
query($id: ID!) {
  review(id: $id) {
    id shelf rating text spoiler createdAt updatedAt likesCount commentsCount viewerHasLiked
    book { id title }
    user { id username }
    comments { totalCount edges { node { text user { username } } } }
  }
}
"""


async def test_review_by_id(app: AppUnderTest) -> None:
    store = app.services.store
    book = book_doc("The Dance of Intimacy")
    heather, elyse = user_doc("heather"), user_doc("elyse")
    review = review_doc(
        heather["_id"],
        book["_id"],
        text="You can't fix a relationship by focusing on the relationship.",
        rating=5,
        created_at=datetime(2011, 3, 26, tzinfo=UTC),
    )
    await insert(store, "books", book)
    await insert(store, "users", heather, elyse)
    await insert(store, "reviews", review)
    await insert(store, "comments", comment_doc(review["_id"], elyse["_id"], "So true"))
    await reconcile(store, fix=True)

    data = (await app.client.data(REVIEW_QUERY, {"id": gid("Review", review)}))["review"]
    assert data["id"] == gid("Review", review)
    assert data["shelf"] == "READ"
    assert data["rating"] == 5
    assert data["text"] == "You can't fix a relationship by focusing on the relationship."
    assert data["spoiler"] is False
    assert data["createdAt"].startswith("2011-03-26T00:00:00")
    assert data["updatedAt"].startswith("2011-03-26T00:00:00")
    assert data["likesCount"] == 0
    assert data["commentsCount"] == 1
    assert data["viewerHasLiked"] is False
    assert data["book"] == {"id": gid("Book", book), "title": "The Dance of Intimacy"}
    assert data["user"] == {"id": gid("User", heather), "username": "heather"}
    assert data["comments"]["totalCount"] == 1
    assert data["comments"]["edges"][0]["node"] == {
        "text": "So true",
        "user": {"username": "elyse"},
    }


async def test_review_of_a_missing_id_is_null(gql: GraphQLClient) -> None:
    assert await gql.data(REVIEW_QUERY, {"id": to_global_id("Review", ObjectId())}) == {
        "review": None
    }


# --- viewer ------------------------------------------------------------------------------

VIEWER_QUERY = "{ viewer { id username } }"


async def test_viewer_is_null_for_an_anonymous_request(gql: GraphQLClient) -> None:
    result = await gql.execute(VIEWER_QUERY)
    assert result.get("errors") is None
    assert result["data"] == {"viewer": None}


async def test_viewer_is_the_user_of_the_token(gql: GraphQLClient) -> None:
    token, user_id = await gql.sign_up("dawn_reader")
    await gql.sign_up("someone_else")
    data = await gql.data(VIEWER_QUERY, token=token)
    assert data["viewer"] == {"id": user_id, "username": "dawn_reader"}


@pytest.mark.parametrize(
    "token", ["not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bad-signature"]
)
async def test_viewer_is_null_with_an_invalid_token(gql: GraphQLClient, token: str) -> None:
    await gql.sign_up()
    result = await gql.execute(VIEWER_QUERY, token=token)
    assert result.get("errors") is None
    assert result["data"] == {"viewer": None}


async def test_viewer_is_null_with_a_token_signed_by_another_secret(app: AppUnderTest) -> None:
    _, user_id = await app.client.sign_up()
    _, oid = parse_global_id(user_id)
    forged = issue_token(oid, "another-secret-" + "y" * 32, 3600)
    valid = issue_token(oid, app.services.jwt_secret, 3600)
    assert (await app.client.data(VIEWER_QUERY, token=valid))["viewer"]["id"] == user_id
    assert (await app.client.data(VIEWER_QUERY, token=forged))["viewer"] is None


# --- User.reviews with the shelf filter ------------------------------------------------

USER_ENTRIES_QUERY = """
query($username: String!, $shelf: Shelf) {
  user(username: $username) {
    reviews(shelf: $shelf) {
      totalCount
      edges { node { shelf rating text book { title } } }
    }
  }
}
"""


async def test_user_reviews_filtered_by_shelf(app: AppUnderTest) -> None:
    store = app.services.store
    reader, other = user_doc("reader"), user_doc("other")
    books = [book_doc(f"Book {i}") for i in range(5)]
    entries = [
        review_doc(reader["_id"], books[0]["_id"], shelf="WANT_TO_READ", created_at=T0),
        review_doc(
            reader["_id"], books[1]["_id"], shelf="CURRENTLY_READING", created_at=T0 + timedelta(1)
        ),
        review_doc(reader["_id"], books[2]["_id"], rating=4, created_at=T0 + timedelta(2)),
        review_doc(
            reader["_id"], books[3]["_id"], text="Loved it", rating=5, created_at=T0 + timedelta(3)
        ),
        review_doc(
            reader["_id"], books[4]["_id"], shelf="WANT_TO_READ", created_at=T0 + timedelta(4)
        ),
        review_doc(other["_id"], books[0]["_id"], shelf="WANT_TO_READ", created_at=T0),
    ]
    await insert(store, "users", reader, other)
    await insert(store, "books", *books)
    await insert(store, "reviews", *entries)

    async def titles(shelf: str | None) -> tuple[int, list[str]]:
        data = await app.client.data(USER_ENTRIES_QUERY, {"username": "reader", "shelf": shelf})
        conn = data["user"]["reviews"]
        if shelf is not None:
            assert all(e["node"]["shelf"] == shelf for e in conn["edges"])
        return conn["totalCount"], [e["node"]["book"]["title"] for e in conn["edges"]]

    # All entries, text or not, newest first.
    assert await titles(None) == (5, ["Book 4", "Book 3", "Book 2", "Book 1", "Book 0"])
    assert await titles("WANT_TO_READ") == (2, ["Book 4", "Book 0"])
    assert await titles("CURRENTLY_READING") == (1, ["Book 1"])
    assert await titles("READ") == (2, ["Book 3", "Book 2"])


# --- friendsReviews ------------------------------------------------------------------------

FRIENDS_QUERY = """
query($id: ID!) {
  book(id: $id) {
    friendsReviews {
      totalCount
      edges { node { id text user { id username } } }
      pageInfo { hasNextPage hasPreviousPage }
    }
  }
}
"""


async def test_friends_reviews_shows_reviews_of_users_the_viewer_follows(
    app: AppUnderTest,
) -> None:
    store = app.services.store
    book, other_book = book_doc("The Dance of Intimacy"), book_doc("Other")
    friend, stranger = user_doc("friend"), user_doc("stranger")
    friend_review = review_doc(friend["_id"], book["_id"], T0, text="A friend's view", rating=4)
    friend_rating_only = review_doc(friend["_id"], other_book["_id"], T0, rating=2)
    stranger_review = review_doc(stranger["_id"], book["_id"], T0, text="A stranger's view")
    await insert(store, "books", book, other_book)
    await insert(store, "users", friend, stranger)
    await insert(store, "reviews", friend_review, friend_rating_only, stranger_review)

    token, _ = await app.client.sign_up("viewer")
    await app.client.data(
        "mutation($u: ID!) { followUser(userId: $u) { id } }", {"u": gid("User", friend)}, token
    )

    data = (await app.client.data(FRIENDS_QUERY, {"id": gid("Book", book)}, token))["book"]
    friends = data["friendsReviews"]
    assert friends["totalCount"] == 1
    assert [e["node"]["id"] for e in friends["edges"]] == [gid("Review", friend_review)]
    assert friends["edges"][0]["node"]["user"]["username"] == "friend"

    # The friend wrote no text for the other book: nothing there.
    other = await app.client.data(FRIENDS_QUERY, {"id": gid("Book", other_book)}, token)
    assert other["book"]["friendsReviews"]["totalCount"] == 0
    assert other["book"]["friendsReviews"]["edges"] == []


async def test_friends_reviews_is_empty_for_anonymous_and_for_viewers_following_nobody(
    app: AppUnderTest,
) -> None:
    store = app.services.store
    book, friend = book_doc("The Dance of Intimacy"), user_doc("friend")
    await insert(store, "books", book)
    await insert(store, "users", friend)
    await insert(store, "reviews", review_doc(friend["_id"], book["_id"], T0, text="Hello"))
    token, _ = await app.client.sign_up("loner")

    for as_token in (None, token):
        data = (await app.client.data(FRIENDS_QUERY, {"id": gid("Book", book)}, as_token))["book"]
        assert data["friendsReviews"] == {
            "totalCount": 0,
            "edges": [],
            "pageInfo": {"hasNextPage": False, "hasPreviousPage": False},
        }


# --- the demo book page ------------------------------------------------------------------

BOOK_PAGE_QUERY = """
query($id: ID!) {
  book(id: $id) {
    id title subtitle pageCount format firstPublished
    authors { id name bio booksCount }
    ratingStats { average count histogram { stars count percent } updatedAt }
    shelfCounts { wantToRead currentlyReading read }
    reviewsCount
    reviews(first: 30) {
      totalCount
      edges {
        node {
          id shelf rating text createdAt likesCount
          user { username displayName authoredBooksCount }
        }
      }
      pageInfo { hasNextPage }
    }
    viewerReview { id }
  }
}
"""

# The seed page's figures: 5 stars first.
PAGE_PERCENTS = [38, 34, 20, 4, 2]
PAGE_COUNTS = {5: 3937, 4: 3446, 3: 2038, 2: 461, 1: 243}
PAGE_AVERAGE = sum(s * c for s, c in PAGE_COUNTS.items()) / sum(PAGE_COUNTS.values())


@pytest.fixture(scope="module")
async def book_page(demo: DemoApp) -> dict[str, Any]:
    data = await demo.app.client.data(BOOK_PAGE_QUERY, {"id": demo.book_id})
    return data["book"]  # type: ignore[no-any-return]


def review_by(book_page: dict[str, Any], display_name: str) -> dict[str, Any]:
    found = [
        e["node"]
        for e in book_page["reviews"]["edges"]
        if e["node"]["user"]["displayName"] == display_name
    ]
    assert len(found) == 1, f"{display_name}: {len(found)} reviews"
    return found[0]


async def test_demo_page_book_fields(demo: DemoApp, book_page: dict[str, Any]) -> None:
    assert book_page["id"] == demo.book_id
    assert book_page["title"] == "The Dance of Intimacy"
    assert book_page["subtitle"] == (
        "A Woman's Guide to Courageous Acts of Change in Key Relationships"
    )
    assert book_page["pageCount"] == 255
    assert book_page["format"] == "Paperback"
    assert book_page["firstPublished"] == "1989-01-01"
    assert book_page["viewerReview"] is None


async def test_demo_page_author_card(demo: DemoApp, book_page: dict[str, Any]) -> None:
    [author] = book_page["authors"]
    assert author["id"] == demo.author_id
    assert author["name"] == "Harriet Lerner"
    assert author["bio"].startswith("Dr. Harriet Lerner, Ph.D. (Clinical Psychology")
    assert "Marriage Rules: A Manual for the Married and the Coupled Up." in author["bio"]
    assert author["booksCount"] == 1  # books of hers that the service holds


async def test_demo_page_rating_stats(demo: DemoApp, book_page: dict[str, Any]) -> None:
    stats = book_page["ratingStats"]
    histogram = stats["histogram"]
    assert [b["stars"] for b in histogram] == [5, 4, 3, 2, 1]
    assert [b["percent"] for b in histogram] == PAGE_PERCENTS
    # The loader's counts (1 star first) are what the reconciled histogram shows.
    assert [b["count"] for b in histogram] == list(reversed(demo.summary.ratings))
    assert stats["count"] == sum(demo.summary.ratings) == sum(b["count"] for b in histogram)
    weighted = sum(b["stars"] * b["count"] for b in histogram) / stats["count"]
    assert stats["average"] == pytest.approx(weighted)
    assert abs(stats["average"] - PAGE_AVERAGE) < 0.05  # the page: 4.02
    assert stats["updatedAt"] is not None


async def test_demo_page_shelf_counts(demo: DemoApp, book_page: dict[str, Any]) -> None:
    shelves = book_page["shelfCounts"]
    scale = demo.summary.scale
    page = read_seed_page()
    assert shelves["currentlyReading"] == demo.summary.currently_reading
    assert shelves["wantToRead"] == demo.summary.want_to_read
    # "510 people are currently reading", "10012 people want to read", at the demo scale
    # (3 and 50 at the tests' 0.005).
    assert demo.summary.currently_reading == scaled_count(page.currently_reading, scale)
    assert demo.summary.want_to_read == scaled_count(page.want_to_read, scale)


async def test_demo_page_reviews_count_and_first_page(book_page: dict[str, Any]) -> None:
    assert book_page["reviewsCount"] == 29
    reviews = book_page["reviews"]
    assert reviews["totalCount"] == 29
    assert len(reviews["edges"]) == 29  # the whole first page of 30
    assert reviews["pageInfo"]["hasNextPage"] is False
    assert all(e["node"]["text"] for e in reviews["edges"])


async def test_demo_page_heathers_review(book_page: dict[str, Any]) -> None:
    heather = review_by(book_page, "Heather")
    assert heather["text"].startswith(
        "You can't fix a relationship by focusing on the relationship."
    )
    assert heather["text"].rstrip().endswith("less the player of a particular role.")
    assert heather["createdAt"].startswith("2011-03-26")
    assert heather["shelf"] == "READ"


async def test_demo_page_author_badge_of_meredith_holley(book_page: dict[str, Any]) -> None:
    meredith = review_by(book_page, "Meredith Holley")
    assert meredith["user"]["authoredBooksCount"] == 2
    assert meredith["createdAt"].startswith("2011-12-25")
    heather = review_by(book_page, "Heather")
    assert heather["user"]["authoredBooksCount"] == 0


async def test_demo_page_want_to_read_entry_of_dawn(book_page: dict[str, Any]) -> None:
    dawn = review_by(book_page, "Dawn")
    assert dawn["shelf"] == "WANT_TO_READ"
    assert dawn["text"] == "Recommended by my therapist..."
    assert dawn["rating"] is None
    assert dawn["createdAt"].startswith("2009-09-01")


async def test_demo_reviewer_found_by_username_with_their_shelves(demo: DemoApp) -> None:
    data = await demo.app.client.data(
        """query { user(username: "DAWN") {
             displayName
             wanted: reviews(shelf: WANT_TO_READ) { totalCount edges { node { book { title } } } }
             read: reviews(shelf: READ) { totalCount }
        } }"""
    )
    dawn = data["user"]
    assert dawn["displayName"] == "Dawn"
    assert dawn["wanted"]["totalCount"] == 1
    assert dawn["wanted"]["edges"][0]["node"]["book"]["title"] == "The Dance of Intimacy"
    assert dawn["read"]["totalCount"] == 0
