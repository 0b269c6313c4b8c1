"""Relay cursor pagination: Book.reviews (sorts, filters, search), Review.comments, User.reviews.

The read-only data set is built once per module (directly in MongoDB, aggregates by the
reconciler); tests that write get their own database through the `app` fixture. Expected
orders are computed here from the inserted documents, independently of the service.
"""

import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from bson import ObjectId

from devtools.embedded import Servers, embedded_servers
from service.ids import to_global_id
from service.mongo import Store
from tests.support.app import AppUnderTest, GraphQLClient, app_settings, running_app
from tests.support.documents import review_doc, user_doc
from workers.reconcile import reconcile

T0 = datetime(2015, 6, 1, tzinfo=UTC)
REVIEWS = 40  # text reviews of the book: more than the default page size of 30
SEARCH_WORD = "therapist"


# --- documents ---------------------------------------------------------------------------


def book_doc(title: str) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "title": title,
        "genres": [],
        "author_ids": [],
        "rating_stats": {"counts": [0, 0, 0, 0, 0], "count": 0, "sum": 0, "updated_at": None},
        "shelf_counts": {"want_to_read": 0, "currently_reading": 0, "read": 0},
        "reviews_count": 0,
    }


def review_text(i: int) -> str:
    if i % 6 == 0:
        return f"Review {i}: recommended by my {SEARCH_WORD}, and I see why."
    if i % 6 == 3:
        return f"Review {i}: my Therapist said to read it."
    if i % 6 == 1:
        return f"Review {i}: a psychotherapist would like the chapter on triangles."
    return f"Review {i}: helpful about anxiety and distance in families."


def with_search_word(reviews: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reviews whose text has the search word (any case) as a word of its own."""
    return [r for i, r in enumerate(reviews) if i % 6 in (0, 3)]


def popular_key(doc: dict[str, Any]) -> tuple[Any, ...]:
    return (doc["likes_count"], doc["created_at"], doc["_id"])


def newest_key(doc: dict[str, Any]) -> tuple[Any, ...]:
    return (doc["created_at"], doc["_id"])


def expected_order(docs: list[dict[str, Any]], sort: str) -> list[str]:
    if sort == "POPULAR":
        ordered = sorted(docs, key=popular_key, reverse=True)
    elif sort == "NEWEST":
        ordered = sorted(docs, key=newest_key, reverse=True)
    else:
        ordered = sorted(docs, key=newest_key)
    return [to_global_id("Review", d["_id"]) for d in ordered]


@dataclass
class Reviewed:
    app: AppUnderTest
    book_id: str
    reviews: list[dict[str, Any]]  # the book's text reviews, with likes_count as reconciled
    commented_review_id: str
    comments: list[dict[str, Any]]
    shelver: str  # username of a reader with entries on many books
    shelver_entries: list[dict[str, Any]]

    @property
    def client(self) -> GraphQLClient:
        return self.app.client


async def build_reviewed(store: Store) -> dict[str, Any]:
    book, other_book = book_doc("The Dance of Intimacy"), book_doc("The Dance of Anger")
    users = [user_doc(f"reader{i:02d}", T0) for i in range(REVIEWS + 5)]
    reviews: list[dict[str, Any]] = []
    for i in range(REVIEWS):
        # Reviews 10 to 14 share one instant: their order falls to the _id (10 and 14 also
        # share their number of likes, a tie for POPULAR too).
        hours = 10 if 10 <= i <= 14 else i
        reviews.append(
            review_doc(
                users[i]["_id"],
                book["_id"],
                T0 + timedelta(hours=hours),
                text=review_text(i),
                rating=i % 5 + 1,
            )
        )
    # Entries without text: they count in the figures, never in the reviews list.
    no_text = [
        review_doc(users[REVIEWS + j]["_id"], book["_id"], T0 + timedelta(days=9), rating=5)
        for j in range(3)
    ] + [review_doc(u["_id"], book["_id"], T0, shelf="WANT_TO_READ") for u in users[REVIEWS + 3 :]]
    # The other book's reviews mention the search word too; they must never show up.
    elsewhere = [
        review_doc(
            users[i]["_id"],
            other_book["_id"],
            T0 + timedelta(hours=i),
            text=f"My {SEARCH_WORD} again",
            rating=5,
        )
        for i in range(3)
    ]
    # Review i gets i % 4 likes (from the next readers), so POPULAR has ties to break.
    likes = [
        {
            "_id": ObjectId(),
            "user_id": users[(i + k + 1) % len(users)]["_id"],
            "review_id": r["_id"],
            "created_at": T0,
        }
        for i, r in enumerate(reviews)
        for k in range(i % 4)
    ]
    # Comments on review 0, two of them at the same instant.
    commented = reviews[0]
    comments = [
        {
            "_id": ObjectId(),
            "review_id": commented["_id"],
            "user_id": users[k]["_id"],
            "text": f"comment {k}",
            "created_at": T0 + timedelta(minutes=3 if k in (3, 4) else k),
        }
        for k in range(7)
    ]
    # A reader with entries on eight more books, on various shelves.
    shelver = user_doc("Shelver", T0)
    shelf_books = [book_doc(f"Shelf book {k}") for k in range(8)]
    shelves = ["WANT_TO_READ", "READ", "CURRENTLY_READING", "WANT_TO_READ"]
    shelver_entries = [
        review_doc(shelver["_id"], b["_id"], T0 + timedelta(days=k), shelf=shelves[k % 4])
        for k, b in enumerate(shelf_books)
    ]
    await store.books.insert_many([book, other_book, *shelf_books])
    await store.users.insert_many([*users, shelver])
    await store.reviews.insert_many([*reviews, *no_text, *elsewhere, *shelver_entries])
    await store.likes.insert_many(likes)
    await store.comments.insert_many(comments)
    await reconcile(store, fix=True)
    stored = {d["_id"]: d for d in await store.reviews.find({"book_id": book["_id"]}).to_list(None)}
    return {
        "book_id": to_global_id("Book", book["_id"]),
        "reviews": [stored[r["_id"]] for r in reviews],
        "commented_review_id": to_global_id("Review", commented["_id"]),
        "comments": comments,
        "shelver": "Shelver",
        "shelver_entries": shelver_entries,
    }


@pytest.fixture(scope="module")
async def reviewed(servers: Servers) -> AsyncIterator[Reviewed]:
    """A book with 40 text reviews (likes, ties, ratings 1..5), comments and a shelver."""
    async with running_app(app_settings(servers.mongodb_url, servers.redis_url)) as running:
        built = await build_reviewed(running.services.store)
        yield Reviewed(app=running, **built)


# --- helpers -----------------------------------------------------------------------------

REVIEWS_QUERY = """
query($id: ID!, $first: Int, $after: String, $sort: ReviewSort, $stars: [Int!], $search: String) {
  book(id: $id) {
    reviews(first: $first, after: $after, sort: $sort, stars: $stars, search: $search) {
      totalCount
      edges { cursor node { id rating text likesCount createdAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


async def reviews_page(client: GraphQLClient, book_id: str, **args: Any) -> dict[str, Any]:
    data = await client.data(REVIEWS_QUERY, {"id": book_id, **args})
    return data["book"]["reviews"]  # type: ignore[no-any-return]


def check_page_info(page: dict[str, Any], after: str | None) -> None:
    info, edges = page["pageInfo"], page["edges"]
    assert info["hasPreviousPage"] is (after is not None)
    if edges:
        assert info["startCursor"] == edges[0]["cursor"]
        assert info["endCursor"] == edges[-1]["cursor"]
    else:
        assert info["startCursor"] is None
        assert info["endCursor"] is None


async def walk_reviews(
    client: GraphQLClient, book_id: str, first: int, **args: Any
) -> tuple[list[str], int, int]:
    """Every review id, page by page; (ids, pages, totalCount)."""
    ids: list[str] = []
    after: str | None = None
    pages = 0
    totals = set()
    while True:
        page = await reviews_page(client, book_id, first=first, after=after, **args)
        pages += 1
        check_page_info(page, after)
        totals.add(page["totalCount"])
        edges = page["edges"]
        ids += [e["node"]["id"] for e in edges]
        if not page["pageInfo"]["hasNextPage"]:
            break
        assert len(edges) == first  # only the last page may be short
        after = page["pageInfo"]["endCursor"]
        assert pages <= 100, "pagination does not end"
    assert len(totals) == 1, f"totalCount changed between pages: {totals}"
    return ids, pages, totals.pop()


def b64json(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


# --- cursor encoding -----------------------------------------------------------------------

INSTANTS = [
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(1901, 3, 4, 5, 6, 7, 1, tzinfo=UTC),
    T0,
    datetime(2025, 3, 4, 5, 6, 7, 123_000, tzinfo=UTC),
    datetime(2038, 1, 19, 3, 14, 8, 999_999, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
    *(T0 + timedelta(days=d, microseconds=d * 7_919) for d in range(0, 20_000, 37)),
]


def test_cursors_encode_instants_exactly_as_the_aware_timestamp_did() -> None:
    """Cursors compute the instant from the naive UTC difference instead of the aware
    `datetime.timestamp()`; a cursor handed out before must stay the same string."""
    from bson.tz_util import utc as bson_utc

    from service.ids import encode_cursor

    oid = ObjectId()
    for instant in INSTANTS:
        for zone in (bson_utc, UTC):  # as PyMongo decodes them, and as the service makes them
            value = instant.replace(tzinfo=zone)
            before = orjson.dumps(["popular", [3, {"d": value.timestamp()}, {"o": str(oid)}]])
            expected = base64.urlsafe_b64encode(before).decode().rstrip("=")
            assert encode_cursor("popular", [3, value, oid]) == expected, value


# --- Book.reviews: walking every page ------------------------------------------------------


def test_the_data_set_has_the_ties_it_is_meant_to_have(reviewed: Reviewed) -> None:
    likes = [r["likes_count"] for r in reviewed.reviews]
    assert likes == [i % 4 for i in range(REVIEWS)]  # reconciled from the like documents
    instants = [r["created_at"] for r in reviewed.reviews]
    assert len(set(instants)) == REVIEWS - 4


@pytest.mark.parametrize("sort", ["POPULAR", "NEWEST", "OLDEST"])
@pytest.mark.parametrize("first", [7, 10])
async def test_walking_every_page_gives_each_review_once_in_order(
    reviewed: Reviewed, sort: str, first: int
) -> None:
    ids, pages, total = await walk_reviews(reviewed.client, reviewed.book_id, first, sort=sort)
    expected = expected_order(reviewed.reviews, sort)
    assert len(ids) == len(set(ids)), "a review was listed twice"
    assert ids == expected
    assert total == REVIEWS
    assert pages == -(-REVIEWS // first)  # 10 per page: exactly 4 pages, no empty 5th


async def test_popular_orders_by_likes_then_newest(reviewed: Reviewed) -> None:
    page = await reviews_page(reviewed.client, reviewed.book_id, first=REVIEWS, sort="POPULAR")
    nodes = [e["node"] for e in page["edges"]]
    keys = [(n["likesCount"], n["createdAt"]) for n in nodes]
    assert keys == sorted(keys, reverse=True)
    assert nodes[0]["likesCount"] == 3
    assert nodes[-1]["likesCount"] == 0


async def test_popular_is_the_default_sort(reviewed: Reviewed) -> None:
    page = await reviews_page(reviewed.client, reviewed.book_id, first=REVIEWS)
    assert [e["node"]["id"] for e in page["edges"]] == expected_order(reviewed.reviews, "POPULAR")


async def test_page_info_of_first_middle_last_and_past_the_end(reviewed: Reviewed) -> None:
    client, book = reviewed.client, reviewed.book_id
    first = await reviews_page(client, book, first=15, sort="NEWEST")
    assert first["totalCount"] == REVIEWS
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    check_page_info(first, None)

    after = first["pageInfo"]["endCursor"]
    middle = await reviews_page(client, book, first=15, after=after, sort="NEWEST")
    assert middle["pageInfo"]["hasNextPage"] is True
    assert middle["pageInfo"]["hasPreviousPage"] is True
    check_page_info(middle, after)

    after = middle["pageInfo"]["endCursor"]
    last = await reviews_page(client, book, first=15, after=after, sort="NEWEST")
    assert len(last["edges"]) == 10
    assert last["pageInfo"]["hasNextPage"] is False
    assert last["pageInfo"]["hasPreviousPage"] is True
    check_page_info(last, after)

    after = last["pageInfo"]["endCursor"]
    past = await reviews_page(client, book, first=15, after=after, sort="NEWEST")
    assert past["edges"] == []
    assert past["totalCount"] == REVIEWS
    assert past["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": None,
        "endCursor": None,
    }


async def test_every_edge_cursor_resumes_right_after_its_review(reviewed: Reviewed) -> None:
    client, book = reviewed.client, reviewed.book_id
    page = await reviews_page(client, book, first=12, sort="POPULAR")
    expected = expected_order(reviewed.reviews, "POPULAR")
    for position in (0, 5, 11):
        cursor = page["edges"][position]["cursor"]
        nxt = await reviews_page(client, book, first=3, after=cursor, sort="POPULAR")
        assert [e["node"]["id"] for e in nxt["edges"]] == expected[position + 1 : position + 4]


# --- stability while reviews arrive ------------------------------------------------------


@pytest.mark.parametrize("sort", ["POPULAR", "NEWEST", "OLDEST"])
async def test_next_page_continues_where_the_last_ended_when_new_reviews_arrive(
    app: AppUnderTest, sort: str
) -> None:
    store = app.services.store
    book = book_doc("Live book")
    users = [user_doc(f"r{i}", T0) for i in range(16)]
    existing = [
        review_doc(
            u["_id"],
            book["_id"],
            T0 + timedelta(hours=i),
            text=f"old {i}",
            rating=4,
            likes_count=i % 3,
        )
        for i, u in enumerate(users[:12])
    ]
    await store.books.insert_one(book)
    await store.users.insert_many(users)
    await store.reviews.insert_many(existing)
    book_id = to_global_id("Book", book["_id"])
    expected = expected_order(existing, sort)

    page1 = await reviews_page(app.client, book_id, first=5, sort=sort)
    assert [e["node"]["id"] for e in page1["edges"]] == expected[:5]

    # New reviews that sort ahead of the first page: newer, and more liked, than any of
    # them (and, for OLDEST, older than any of them).
    for i, u in enumerate(users[12:]):
        at = T0 - timedelta(days=1 + i) if sort == "OLDEST" else T0 + timedelta(days=1 + i)
        await store.reviews.insert_one(
            review_doc(u["_id"], book["_id"], at, text=f"new {i}", rating=5, likes_count=10)
        )

    after = page1["pageInfo"]["endCursor"]
    page2 = await reviews_page(app.client, book_id, first=5, after=after, sort=sort)
    assert [e["node"]["id"] for e in page2["edges"]] == expected[5:10]
    assert page2["totalCount"] == 16
    page3 = await reviews_page(
        app.client, book_id, first=5, after=page2["pageInfo"]["endCursor"], sort=sort
    )
    assert [e["node"]["id"] for e in page3["edges"]] == expected[10:12]
    assert page3["pageInfo"]["hasNextPage"] is False

    # Starting over shows the new reviews first.
    again = await reviews_page(app.client, book_id, first=4, sort=sort)
    assert all(e["node"]["text"].startswith("new") for e in again["edges"])


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize("stars", [[5], [1, 2], [2, 1, 2], [3, 4, 5]])
async def test_stars_filter(reviewed: Reviewed, stars: list[int]) -> None:
    matching = [r for r in reviewed.reviews if r["rating"] in stars]
    ids, _, total = await walk_reviews(
        reviewed.client, reviewed.book_id, 5, sort="NEWEST", stars=stars
    )
    assert ids == expected_order(matching, "NEWEST")
    assert total == len(matching) == REVIEWS * len(set(stars)) // 5


async def test_stars_filter_never_lists_entries_without_text(reviewed: Reviewed) -> None:
    # Three rating-only 5-star entries exist; the filter still lists text reviews only.
    page = await reviews_page(reviewed.client, reviewed.book_id, first=100, stars=[5])
    assert page["totalCount"] == 8
    assert all(e["node"]["text"] and e["node"]["rating"] == 5 for e in page["edges"])


@pytest.mark.parametrize("stars", [[0], [6], [5, -1]])
async def test_stars_out_of_range_is_bad_user_input(reviewed: Reviewed, stars: list[int]) -> None:
    error = await reviewed.client.error(REVIEWS_QUERY, {"id": reviewed.book_id, "stars": stars})
    assert error.code == "BAD_USER_INPUT"
    assert error.errors[0]["extensions"]["field"] == "stars"


async def test_stars_empty_list_matches_nothing(reviewed: Reviewed) -> None:
    page = await reviews_page(reviewed.client, reviewed.book_id, stars=[])
    assert page["edges"] == []
    assert page["totalCount"] == 0


async def test_search_returns_only_reviews_containing_the_word(reviewed: Reviewed) -> None:
    matching = with_search_word(reviewed.reviews)
    assert len(matching) == 14  # "psychotherapist" is another word
    page = await reviews_page(
        reviewed.client, reviewed.book_id, first=100, sort="OLDEST", search=SEARCH_WORD
    )
    assert [e["node"]["id"] for e in page["edges"]] == expected_order(matching, "OLDEST")
    assert page["totalCount"] == len(matching)
    assert all(SEARCH_WORD in e["node"]["text"].lower() for e in page["edges"])


async def test_search_with_no_match_is_empty(reviewed: Reviewed) -> None:
    page = await reviews_page(reviewed.client, reviewed.book_id, search="zeppelin")
    assert page == {
        "totalCount": 0,
        "edges": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


async def test_blank_search_is_no_search(reviewed: Reviewed) -> None:
    page = await reviews_page(reviewed.client, reviewed.book_id, first=1, search="   ")
    assert page["totalCount"] == REVIEWS


async def test_search_and_stars_and_sort_combined_across_pages(reviewed: Reviewed) -> None:
    stars = [1, 4, 5]
    matching = [r for r in with_search_word(reviewed.reviews) if r["rating"] in stars]
    assert matching, "the combination must select something"
    for sort in ("POPULAR", "NEWEST", "OLDEST"):
        ids, pages, total = await walk_reviews(
            reviewed.client, reviewed.book_id, 2, sort=sort, stars=stars, search=SEARCH_WORD
        )
        assert ids == expected_order(matching, sort), sort
        assert total == len(matching)
        assert pages == -(-len(matching) // 2)


# --- refused arguments -----------------------------------------------------------------


async def test_cursor_of_one_sort_is_refused_by_another(reviewed: Reviewed) -> None:
    client, book = reviewed.client, reviewed.book_id
    for made_by, used_by in [("POPULAR", "NEWEST"), ("NEWEST", "OLDEST"), ("OLDEST", "POPULAR")]:
        page = await reviews_page(client, book, first=3, sort=made_by)
        error = await client.error(
            REVIEWS_QUERY,
            {"id": book, "first": 3, "sort": used_by, "after": page["pageInfo"]["endCursor"]},
        )
        assert error.code == "BAD_USER_INPUT", (made_by, used_by)
        assert error.errors[0]["extensions"]["field"] == "after"


async def test_cursor_of_another_list_is_refused(reviewed: Reviewed) -> None:
    client = reviewed.client
    comments = await client.data(
        "query($id: ID!) { review(id: $id) { comments(first: 1) { pageInfo { endCursor } } } }",
        {"id": reviewed.commented_review_id},
    )
    cursor = comments["review"]["comments"]["pageInfo"]["endCursor"]
    error = await client.error(REVIEWS_QUERY, {"id": reviewed.book_id, "after": cursor})
    assert error.code == "BAD_USER_INPUT"
    assert error.errors[0]["extensions"]["field"] == "after"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "",
        "!!!",
        base64.urlsafe_b64encode(b"not json").decode(),
        b64json({"kind": "reviews:popular"}),
        b64json(["reviews:popular", [0, {"d": 1.0}]]),  # one value short
        b64json(["reviews:popular", [0, {"d": 1.0}, {"o": "not-an-object-id"}]]),
        b64json(["reviews:popular", [0, {"d": 1.0}, {"x": 1}]]),
        b64json(["reviews:popular", [[1], {"d": 1.0}, {"o": "0" * 24}]]),
        # Forged values of the right shape: each part is checked for what the list issues.
        b64json(["reviews:popular", [0, {"d": 1e20}, {"o": "0" * 24}]]),  # OverflowError
        b64json(["reviews:popular", [0, {"d": -1e20}, {"o": "0" * 24}]]),
        b64json(["reviews:popular", [0, {"d": "2020"}, {"o": "0" * 24}]]),
        b64json(["reviews:popular", [0, {"d": True}, {"o": "0" * 24}]]),
        b64json(["reviews:popular", [0, {"d": 1.0, "o": "0" * 24}, {"o": "0" * 24}]]),
        b64json(["reviews:popular", [2**63, {"d": 1.0}, {"o": "0" * 24}]]),  # not BSON
        b64json(["reviews:popular", [1.5, {"d": 1.0}, {"o": "0" * 24}]]),
        b64json(["reviews:popular", ["5", {"d": 1.0}, {"o": "0" * 24}]]),
        b64json(["reviews:popular", [True, {"d": 1.0}, {"o": "0" * 24}]]),
        b64json(["reviews:popular", [0, 1.0, {"o": "0" * 24}]]),
        b64json(["reviews:popular", [0, {"d": 1.0}, "0" * 24]]),
        b64json(["reviews:popular", [0, {"d": 1.0}, None]]),
        b64json(["reviews:popular", [0, {"d": 1.0}, {"o": 5}]]),
        b64json(["reviews:popular", [0, {"d": 1.0}, {"o": "abcdefghijkl"}]]),
        base64.urlsafe_b64encode(b'["reviews:popular", [0, {"d": 1e400}, {"o": "x"}]]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_malformed_cursor_is_bad_user_input_on_after(reviewed: Reviewed, cursor: str) -> None:
    result = await reviewed.client.execute(
        REVIEWS_QUERY, {"id": reviewed.book_id, "after": cursor, "sort": "POPULAR"}
    )
    [error] = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == "after"
    assert result["data"] == {"book": None} or result["data"] is None


@pytest.mark.parametrize("first", [0, -1, 101, 10_000])
async def test_first_out_of_range_is_bad_user_input_naming_first(
    reviewed: Reviewed, first: int
) -> None:
    error = await reviewed.client.error(REVIEWS_QUERY, {"id": reviewed.book_id, "first": first})
    assert error.code == "BAD_USER_INPUT"
    assert error.errors[0]["extensions"]["field"] == "first"
    assert "first" in error.errors[0]["message"]


async def test_first_100_is_allowed(reviewed: Reviewed) -> None:
    page = await reviews_page(reviewed.client, reviewed.book_id, first=100)
    assert len(page["edges"]) == REVIEWS
    assert page["pageInfo"]["hasNextPage"] is False


async def test_first_null_or_omitted_is_the_default_page_of_30(reviewed: Reviewed) -> None:
    expected = expected_order(reviewed.reviews, "POPULAR")[:30]
    explicit_null = await reviews_page(reviewed.client, reviewed.book_id, first=None)
    omitted = await reviewed.client.data(
        "query($id: ID!) { book(id: $id) { reviews { edges { node { id } }"
        " pageInfo { hasNextPage } } } }",
        {"id": reviewed.book_id},
    )
    for page in (explicit_null, omitted["book"]["reviews"]):
        assert [e["node"]["id"] for e in page["edges"]] == expected
        assert page["pageInfo"]["hasNextPage"] is True


# --- Review.comments -----------------------------------------------------------------------

COMMENTS_QUERY = """
query($id: ID!, $first: Int, $after: String) {
  review(id: $id) {
    commentsCount
    comments(first: $first, after: $after) {
      totalCount
      edges { cursor node { id text } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


def expected_comments(comments: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(comments, key=lambda c: (c["created_at"], c["_id"]))
    return [to_global_id("Comment", c["_id"]) for c in ordered]


async def test_comments_pages_oldest_first(reviewed: Reviewed) -> None:
    ids: list[str] = []
    after = None
    pages = 0
    while True:
        data = await reviewed.client.data(
            COMMENTS_QUERY, {"id": reviewed.commented_review_id, "first": 3, "after": after}
        )
        review = data["review"]
        page = review["comments"]
        pages += 1
        assert review["commentsCount"] == 7
        assert page["totalCount"] == 7
        check_page_info(page, after)
        ids += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert ids == expected_comments(reviewed.comments)


async def test_comments_default_page_and_limits(reviewed: Reviewed) -> None:
    client, review_id = reviewed.client, reviewed.commented_review_id
    data = await client.data(COMMENTS_QUERY, {"id": review_id})
    page = data["review"]["comments"]
    assert [e["node"]["id"] for e in page["edges"]] == expected_comments(reviewed.comments)
    assert page["pageInfo"]["hasNextPage"] is False

    for first in (0, 101):
        error = await client.error(COMMENTS_QUERY, {"id": review_id, "first": first})
        assert error.code == "BAD_USER_INPUT"
        assert error.errors[0]["extensions"]["field"] == "first"
    error = await client.error(COMMENTS_QUERY, {"id": review_id, "after": "nonsense"})
    assert error.code == "BAD_USER_INPUT"
    assert error.errors[0]["extensions"]["field"] == "after"


async def test_review_without_comments_has_an_empty_connection(reviewed: Reviewed) -> None:
    other = to_global_id("Review", reviewed.reviews[5]["_id"])
    data = await reviewed.client.data(COMMENTS_QUERY, {"id": other})
    assert data["review"]["commentsCount"] == 0
    assert data["review"]["comments"]["totalCount"] == 0
    assert data["review"]["comments"]["edges"] == []


# --- User.reviews --------------------------------------------------------------------------

USER_REVIEWS_QUERY = """
query($username: String!, $first: Int, $after: String, $shelf: Shelf) {
  user(username: $username) {
    reviews(first: $first, after: $after, shelf: $shelf) {
      totalCount
      edges { cursor node { id shelf book { title } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


async def walk_user_reviews(
    client: GraphQLClient, username: str, first: int, shelf: str | None = None
) -> tuple[list[str], int]:
    ids: list[str] = []
    after = None
    while True:
        data = await client.data(
            USER_REVIEWS_QUERY,
            {"username": username, "first": first, "after": after, "shelf": shelf},
        )
        page = data["user"]["reviews"]
        check_page_info(page, after)
        ids += [e["node"]["id"] for e in page["edges"]]
        if shelf:
            assert all(e["node"]["shelf"] == shelf for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return ids, page["totalCount"]
        after = page["pageInfo"]["endCursor"]


@pytest.mark.parametrize("first", [1, 3, 8])
async def test_user_reviews_pages_newest_first(reviewed: Reviewed, first: int) -> None:
    ids, total = await walk_user_reviews(reviewed.client, "shelver", first)
    assert ids == expected_order(reviewed.shelver_entries, "NEWEST")
    assert total == 8


@pytest.mark.parametrize("shelf", ["WANT_TO_READ", "READ", "CURRENTLY_READING"])
async def test_user_reviews_pages_of_one_shelf(reviewed: Reviewed, shelf: str) -> None:
    entries = [e for e in reviewed.shelver_entries if e["shelf"] == shelf]
    ids, total = await walk_user_reviews(reviewed.client, "SHELVER", 1, shelf)
    assert ids == expected_order(entries, "NEWEST")
    assert total == len(entries) == (4 if shelf == "WANT_TO_READ" else 2)


async def test_user_reviews_refuses_a_cursor_of_the_book_list(reviewed: Reviewed) -> None:
    page = await reviews_page(reviewed.client, reviewed.book_id, first=1, sort="NEWEST")
    result = await reviewed.client.execute(
        USER_REVIEWS_QUERY, {"username": "shelver", "after": page["pageInfo"]["endCursor"]}
    )
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert result["errors"][0]["extensions"]["field"] == "after"


# --- totalCount of a search on each embedded engine --------------------------------------------

BOOKS_SEARCH = """
query($search: String) { books(search: $search, first: 2) { totalCount edges { cursor } } }
"""


@pytest.mark.parametrize("engine", ["memory", "sqlite"])
async def test_total_count_of_a_search_counts_only_the_matches(
    servers: Servers, tmp_path: Path, engine: str
) -> None:
    # `make dev` serves from mongoeco's SQLite engine, whose count command ignored $text.
    with contextlib.ExitStack() as stack:
        mongodb_url = servers.mongodb_url
        if engine == "sqlite":
            own = stack.enter_context(embedded_servers(tmp_path, redis_url=servers.redis_url))
            mongodb_url = own.mongodb_url
        async with running_app(app_settings(mongodb_url, servers.redis_url)) as app:
            store = app.services.store
            book, other = book_doc("The Dance of Anger"), book_doc("Dance Lessons")
            readers = [user_doc(f"counted{i}", T0) for i in range(5)]
            texts = [review_text(i) for i in range(5)]  # reviews 0 and 3 hold the word
            reviews = [
                review_doc(r["_id"], book["_id"], T0 + timedelta(hours=i), text=t, rating=4)
                for i, (r, t) in enumerate(zip(readers, texts, strict=True))
            ]
            elsewhere = review_doc(readers[0]["_id"], other["_id"], T0, text=f"My {SEARCH_WORD}")
            await store.books.insert_many([book, other])
            await store.users.insert_many(readers)
            await store.reviews.insert_many([*reviews, elsewhere])
            book_id = to_global_id("Book", book["_id"])

            for search, expected in [(SEARCH_WORD, 2), ("zzzqqqxx", 0), (None, 5)]:
                page = await reviews_page(app.client, book_id, first=1, search=search)
                assert page["totalCount"] == expected, search
                assert len(page["edges"]) == min(expected, 1)
            for search, expected in [("dance", 2), ("lessons", 1), ("zzzqqqxx", 0), (None, 2)]:
                books = (await app.client.data(BOOKS_SEARCH, {"search": search}))["books"]
                assert books["totalCount"] == expected, search
                assert len(books["edges"]) == min(expected, 2)
