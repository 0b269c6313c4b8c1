"""The book page costs a fixed number of MongoDB commands whatever its number of reviews.

Commands are counted with PyMongo's command monitoring (`app.services.commands`, a
CommandListener on the service's own client). Two books are built directly in MongoDB, one
with 3 and one with 30 text reviews by distinct users; the same book-page query runs against
both, anonymously and as a viewer, with the counter reset right before each query. DataLoaders
batch every per-review lookup (users, the viewer's likes and follows) into one command each,
so the counts must be equal, and they are pinned to the exact numbers below. Every mutation
is pinned the same way (MUTATION_STEPS); aggregate writes per burst are in test_bursts.py.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from devtools.embedded import Servers
from service.ids import parse_global_id, to_global_id
from service.mongo import Store
from tests.support.app import AppUnderTest, app_settings, running_app
from tests.support.documents import review_doc, user_doc
from tests.support.operations import BOOK_PAGE_QUERY
from workers.reconcile import reconcile

T0 = datetime(2012, 1, 1, tzinfo=UTC)

# Anonymous: find the book, find its authors (one $in), find the page of reviews, find the
# reviews' users (one $in). The viewer fields resolve without a command for anonymous requests.
ANONYMOUS_COMMANDS = {"find": 4}
# A viewer adds four batched finds: the viewer's entry for the book (viewerReview), the viewer's
# likes among the page's reviews (viewerHasLiked), the viewer's follows among the page's users
# and among its authors (viewerIsFollowing).
VIEWER_COMMANDS = {"find": 8}


def book_doc(title: str, author_ids: list[ObjectId]) -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "title": title,
        "subtitle": "A subtitle",
        "description": "A description",
        "page_count": 255,
        "format": "Paperback",
        "isbn13": None,
        "first_published": "1989-01-01",
        "cover_url": None,
        "genres": [],
        "author_ids": author_ids,
        "rating_stats": {"counts": [0, 0, 0, 0, 0], "count": 0, "sum": 0, "updated_at": None},
        "shelf_counts": {"want_to_read": 0, "currently_reading": 0, "read": 0},
        "reviews_count": 0,
    }


@dataclass
class Pages:
    app: AppUnderTest
    small: str  # global id of the book with 3 reviews
    large: str  # ... with 30
    token: str  # the viewer's
    liked: set[str]  # review ids the viewer liked
    followed: set[str]  # user ids the viewer follows


async def build_pages(app: AppUnderTest) -> Pages:
    store: Store = app.services.store
    token, viewer_gid = await app.client.sign_up("page_viewer")
    _, viewer_id = parse_global_id(viewer_gid)

    authors = [
        {
            "_id": ObjectId(),
            "name": name,
            "bio": "bio",
            "photo_url": None,
            "books_count": 0,
            "followers_count": 0,
        }
        for name in ("Harriet Lerner", "A Co-author")
    ]
    author_ids = [a["_id"] for a in authors]
    small, large = book_doc("Small", author_ids), book_doc("Large", author_ids)
    users = [user_doc(f"reviewer{i:02d}", T0) for i in range(33)]
    reviews = [
        review_doc(
            u["_id"], small["_id"], T0 + timedelta(days=i), text=f"small {i}", rating=i % 5 + 1
        )
        for i, u in enumerate(users[:3])
    ] + [
        review_doc(
            u["_id"], large["_id"], T0 + timedelta(days=i), text=f"large {i}", rating=i % 5 + 1
        )
        for i, u in enumerate(users[3:])
    ]
    # The viewer's own entries: rated, no text (so they are not among the listed reviews).
    viewer_entries = [review_doc(viewer_id, book["_id"], T0, rating=4) for book in (small, large)]
    # The viewer likes every other review and follows every third reviewer and one author.
    liked = reviews[::2]
    followed = users[::3]
    now = T0
    likes = [
        {"_id": ObjectId(), "user_id": viewer_id, "review_id": r["_id"], "created_at": now}
        for r in liked
    ]
    follows = [
        {
            "_id": ObjectId(),
            "follower_id": viewer_id,
            "target_kind": "user",
            "target_id": u["_id"],
            "created_at": now,
        }
        for u in followed
    ] + [
        {
            "_id": ObjectId(),
            "follower_id": viewer_id,
            "target_kind": "author",
            "target_id": authors[0]["_id"],
            "created_at": now,
        }
    ]
    await store.authors.insert_many(authors)
    await store.books.insert_many([small, large])
    await store.users.insert_many(users)
    await store.reviews.insert_many(reviews + viewer_entries)
    await store.likes.insert_many(likes)
    await store.follows.insert_many(follows)
    await reconcile(store, fix=True)
    return Pages(
        app=app,
        small=to_global_id("Book", small["_id"]),
        large=to_global_id("Book", large["_id"]),
        token=token,
        liked={to_global_id("Review", r["_id"]) for r in liked},
        followed={to_global_id("User", u["_id"]) for u in followed},
    )


@pytest.fixture(scope="module")
async def pages(servers: Servers) -> AsyncIterator[Pages]:
    """Read-only: built once for the module on a database of its own."""
    async with running_app(app_settings(servers.mongodb_url, servers.redis_url)) as running:
        yield await build_pages(running)


async def book_page(
    pages: Pages, book_id: str, token: str | None
) -> tuple[dict[str, Any], dict[str, int]]:
    """The page's data and the MongoDB commands it cost, by command name."""
    counter = pages.app.services.commands
    counter.reset()
    data = await pages.app.client.data(BOOK_PAGE_QUERY, {"id": book_id}, token)
    counts = dict(counter.counts)
    return data["book"], counts


async def test_anonymous_book_page_costs_the_same_for_3_and_30_reviews(pages: Pages) -> None:
    small, small_counts = await book_page(pages, pages.small, None)
    large, large_counts = await book_page(pages, pages.large, None)

    assert len(small["reviews"]["edges"]) == 3
    assert len(large["reviews"]["edges"]) == 30
    assert len({e["node"]["user"]["id"] for e in large["reviews"]["edges"]}) == 30
    assert small_counts == large_counts
    assert small_counts == ANONYMOUS_COMMANDS


async def test_viewer_book_page_costs_the_same_for_3_and_30_reviews(pages: Pages) -> None:
    small, small_counts = await book_page(pages, pages.small, pages.token)
    large, large_counts = await book_page(pages, pages.large, pages.token)

    # The viewer fields are really resolved (and true where they should be).
    for book, reviews in ((small, 3), (large, 30)):
        edges = book["reviews"]["edges"]
        assert len(edges) == reviews
        assert book["viewerReview"]["rating"] == 4
        for edge in edges:
            node = edge["node"]
            assert node["viewerHasLiked"] is (node["id"] in pages.liked)
            assert node["user"]["viewerIsFollowing"] is (node["user"]["id"] in pages.followed)
        assert [a["viewerIsFollowing"] for a in book["authors"]] == [True, False]
    assert any(e["node"]["viewerHasLiked"] for e in large["reviews"]["edges"])
    assert any(e["node"]["user"]["viewerIsFollowing"] for e in large["reviews"]["edges"])

    assert small_counts == large_counts
    assert small_counts == VIEWER_COMMANDS


async def test_figures_on_the_page_are_the_reconciled_ones(pages: Pages) -> None:
    # Guards the query above against quietly rendering empty figures.
    large, _ = await book_page(pages, pages.large, None)
    assert large["reviewsCount"] == 30
    assert large["ratingStats"]["count"] == 31  # 30 reviews and the viewer's rating
    assert large["shelfCounts"]["read"] == 31
    assert [a["name"] for a in large["authors"]] == ["Harriet Lerner", "A Co-author"]


async def test_counting_sees_every_command(pages: Pages) -> None:
    # The counter is live: a query that needs more finds is counted as more.
    counter = pages.app.services.commands
    counter.reset()
    await pages.app.client.data(
        "query($a: ID!, $b: ID!) { a: book(id: $a) { title } b: book(id: $b) { title } }",
        {"a": pages.small, "b": pages.large},
    )
    assert counter.counts == {"find": 1}  # two books, one batched find
    counter.reset()
    await pages.app.client.data(
        "query($a: ID!) { book(id: $a) { reviews(first: 3) { totalCount } } }",
        {"a": pages.small},
    )
    assert counter.total == 3  # book, page of reviews, and the count (an aggregate)
    assert counter.counts.get("aggregate") == 1


# --- mutations -------------------------------------------------------------------------------

# Each mutation with the small selection a page sends back, in an order in which every step
# changes something (a first rating, a second one, ...), and the commands it costs. Every
# changing mutation writes its outbox entry (insert) before the source write and removes it
# (delete) once the event is in the stream. A payload that selects figures computes them from
# the sources after the write (schema.payload_figures): one aggregate per figure part it
# selects (a book's figures are one part; a review's likes and comments two; a user's
# reviews, followers and following three; an author's followers and books two), whatever
# the number of fields or documents; a nested object is one more (batched) find. Every
# mutation first reads the viewer's user (a token may outlive its user: schema.context's
# require_viewer), once per request, through the loader that a payload showing the viewer
# then reuses.
MUTATION_STEPS: list[tuple[str, str, dict[str, int]]] = [
    (
        "rateBook, first rating",
        "mutation($b: ID!) { rateBook(bookId: $b, stars: 4) { id rating } }",
        {"find": 2, "findAndModify": 1, "insert": 1, "delete": 1},
    ),
    (
        "rateBook, changed rating",
        "mutation($b: ID!) { rateBook(bookId: $b, stars: 5) { id rating } }",
        {"find": 2, "findAndModify": 1, "insert": 1, "delete": 1},
    ),
    (
        "rateBook, with the book's figures",
        "mutation($b: ID!) { rateBook(bookId: $b, stars: 3) { id book {"
        " ratingStats { count average histogram { stars count } }"
        " shelfCounts { read } reviewsCount } } }",
        {"find": 3, "findAndModify": 1, "insert": 1, "delete": 1, "aggregate": 1},
    ),
    (
        "setShelf",
        "mutation($b: ID!) { setShelf(bookId: $b, shelf: CURRENTLY_READING) { id shelf } }",
        {"find": 2, "findAndModify": 1, "insert": 1, "delete": 1},
    ),
    (
        "setShelf, with the book's figures",
        "mutation($b: ID!) { setShelf(bookId: $b, shelf: WANT_TO_READ) { id book {"
        " shelfCounts { wantToRead currentlyReading read } } } }",
        {"find": 3, "findAndModify": 1, "insert": 1, "delete": 1, "aggregate": 1},
    ),
    (
        "writeReview",
        'mutation($b: ID!) { writeReview(input: {bookId: $b, text: "Good."}) { id text } }',
        {"find": 2, "findAndModify": 1, "insert": 1, "delete": 1},
    ),
    (
        "writeReview, with the book's and the user's reviewsCount",
        'mutation($b: ID!) { writeReview(input: {bookId: $b, text: "Better."})'
        " { id book { reviewsCount } user { reviewsCount } } }",
        # The book and the user (a find each), the book's figures and the user's reviews.
        {"find": 3, "findAndModify": 1, "insert": 1, "delete": 1, "aggregate": 2},
    ),
    (
        "likeReview",
        "mutation($r: ID!) { likeReview(reviewId: $r) { id likesCount } }",
        # The like is an upsert (update): liking twice stores one like. likesCount: the likes
        # counted (one aggregate).
        {"find": 2, "insert": 1, "update": 1, "delete": 1, "aggregate": 1},
    ),
    (
        "unlikeReview",
        "mutation($r: ID!) { unlikeReview(reviewId: $r) { id likesCount } }",
        {"find": 2, "insert": 1, "delete": 2, "aggregate": 1},
    ),
    (
        "likeReview, with every figure of the review and its user",
        "mutation($r: ID!) { likeReview(reviewId: $r) { likesCount commentsCount"
        " user { reviewsCount followersCount followingCount } } }",
        # The review's two parts, the user (a find) and the user's three parts.
        {"find": 3, "insert": 1, "update": 1, "delete": 1, "aggregate": 5},
    ),
    (
        "addComment",
        'mutation($r: ID!) { addComment(reviewId: $r, text: "Agreed.") { id text } }',
        {"find": 2, "insert": 2, "delete": 1},
    ),
    (
        "addComment, with the review's commentsCount",
        'mutation($r: ID!) { addComment(reviewId: $r, text: "Twice.") { id review'
        " { commentsCount } } }",
        {"find": 3, "insert": 2, "delete": 1, "aggregate": 1},
    ),
    (
        "followUser",
        "mutation($u: ID!) { followUser(userId: $u) { id viewerIsFollowing } }",
        # The target must exist (find); the answer reads it and the viewer's follow (2 finds).
        {"find": 4, "insert": 1, "update": 1, "delete": 1},
    ),
    (
        "unfollowUser",
        "mutation($u: ID!) { unfollowUser(userId: $u) { id viewerIsFollowing } }",
        {"find": 4, "insert": 1, "delete": 2},
    ),
    (
        "followUser, with the user's figures",
        "mutation($u: ID!) { followUser(userId: $u) { followersCount followingCount"
        " reviewsCount } }",
        {"find": 3, "insert": 1, "update": 1, "delete": 1, "aggregate": 3},
    ),
    (
        "followAuthor",
        "mutation($a: ID!) { followAuthor(authorId: $a) { id viewerIsFollowing } }",
        # The target must exist (find); the answer reads it and the viewer's follow (2 finds).
        {"find": 4, "insert": 1, "update": 1, "delete": 1},
    ),
    (
        "unfollowAuthor",
        "mutation($a: ID!) { unfollowAuthor(authorId: $a) { id viewerIsFollowing } }",
        {"find": 4, "insert": 1, "delete": 2},
    ),
    (
        "followAuthor, with the author's figures",
        "mutation($a: ID!) { followAuthor(authorId: $a) { followersCount booksCount } }",
        {"find": 3, "insert": 1, "update": 1, "delete": 1, "aggregate": 2},
    ),
    (
        "clearRating",
        "mutation($b: ID!) { clearRating(bookId: $b) { id rating } }",
        {"find": 2, "findAndModify": 1, "insert": 1, "delete": 1},
    ),
    (
        "rateBook and clearRating in one request, with the book's figures",
        "mutation($b: ID!) { a: rateBook(bookId: $b, stars: 2) { book { ratingStats { count } } }"
        " b: clearRating(bookId: $b) { book { ratingStats { count } } } }",
        # Twice one rating's commands but one read of the viewer, one find of the book for
        # both payloads (the request's loader keeps the document), and an aggregate each:
        # every payload computes its book's figures after its own write.
        {"find": 4, "findAndModify": 2, "insert": 2, "delete": 2, "aggregate": 2},
    ),
]


@pytest.fixture(scope="module")
async def mutation_counts(servers: Servers) -> AsyncIterator[dict[str, dict[str, int]]]:
    """The commands of every step of MUTATION_STEPS, run once in order on a database of its own."""
    async with running_app(app_settings(servers.mongodb_url, servers.redis_url)) as app:
        store: Store = app.services.store
        author = {"_id": ObjectId(), "name": "An Author", "books_count": 1, "followers_count": 0}
        book = book_doc("Counted", [author["_id"]])
        reviewer = user_doc("counted_reviewer", T0)
        review = review_doc(reviewer["_id"], book["_id"], T0, text="A review.", rating=3)
        await store.authors.insert_one(author)
        await store.books.insert_one(book)
        await store.users.insert_one(reviewer)
        await store.reviews.insert_one(review)
        token, _ = await app.client.sign_up("counting_viewer")
        variables = {
            "b": to_global_id("Book", book["_id"]),
            "r": to_global_id("Review", review["_id"]),
            "u": to_global_id("User", reviewer["_id"]),
            "a": to_global_id("Author", author["_id"]),
        }
        counts: dict[str, dict[str, int]] = {}
        for name, document, _ in MUTATION_STEPS:
            used = {k: v for k, v in variables.items() if f"${k}" in document}
            app.services.commands.reset()
            await app.client.data(document, used, token)
            counts[name] = dict(app.services.commands.counts)
        yield counts


@pytest.mark.parametrize(
    ("name", "expected"), [(name, expected) for name, _, expected in MUTATION_STEPS]
)
async def test_mutation_costs_a_fixed_number_of_commands(
    mutation_counts: dict[str, dict[str, int]], name: str, expected: dict[str, int]
) -> None:
    assert mutation_counts[name] == expected
