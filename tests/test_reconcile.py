"""`books reconcile` recomputes every aggregate from the source documents (run as a real
process through the CLI), reports drift with `--check` and fixes it otherwise; and the demo
loader's data, once reconciled, shows the seed page's figures in the page's proportions."""

import subprocess
from dataclasses import dataclass
from typing import Any

import pytest
from bson import ObjectId

from devtools.demo.seed_page import read_seed_page
from tests.support.app import AppUnderTest, DemoApp, GraphQLClient
from tests.support.documents import gid, insert_author, insert_book, oid_of, quick_user
from tests.support.operations import (
    COMMENT,
    FOLLOW_AUTHOR,
    FOLLOW_USER,
    LIKE,
    RATE,
    SHELF,
    UNLIKE,
    write_review,
)
from tests.support.processes import run_books
from workers.reconcile import reconcile


def run_reconcile(app: AppUnderTest, *args: str) -> subprocess.CompletedProcess[str]:
    return run_books(app.settings, "reconcile", *args, timeout=180, LOG_LEVEL="WARNING")


@dataclass
class Scene:
    book_a: ObjectId
    book_b: ObjectId
    author_x: ObjectId
    author_y: ObjectId
    alice: str  # global user ids
    bob: str
    carol: str
    alice_review: str  # global review ids
    carol_review: str
    tokens: dict[str, str]


async def build_scene(app: AppUnderTest) -> Scene:
    """Mutations through the API, with no worker running: every stored figure stays 0."""
    gql = app.client
    x, y = await insert_author(app, "X"), await insert_author(app, "Y")
    a = await insert_book(app, "Book A", [x])
    b = await insert_book(app, "Book B", [x, y])
    alice, alice_id = await quick_user(app, "alice")
    bob, bob_id = await quick_user(app, "bob")
    carol, carol_id = await quick_user(app, "carol")
    book_a, book_b = gid("Book", a), gid("Book", b)

    alice_review = await write_review(gql, alice, a, "Alice on A.", rating=5)
    await gql.data(RATE, {"b": book_a, "s": 3}, bob)
    await gql.data(SHELF, {"b": book_a, "s": "WANT_TO_READ"}, bob)
    await gql.data(SHELF, {"b": book_a, "s": "CURRENTLY_READING"}, carol)
    carol_review = await write_review(gql, carol, b, "Carol on B.", rating=1)
    await gql.data(RATE, {"b": book_b, "s": 4}, alice)  # rating only, no text
    await gql.data(RATE, {"b": book_b, "s": 2}, alice)  # changed its mind

    await gql.data(LIKE, {"r": alice_review["id"]}, bob)
    await gql.data(LIKE, {"r": alice_review["id"]}, carol)
    await gql.data(UNLIKE, {"r": alice_review["id"]}, carol)
    await gql.data(COMMENT, {"r": alice_review["id"], "t": "one"}, bob)
    await gql.data(COMMENT, {"r": alice_review["id"], "t": "two"}, bob)
    await gql.data(COMMENT, {"r": carol_review["id"], "t": "three"}, alice)

    await gql.data(FOLLOW_USER, {"u": alice_id}, bob)
    await gql.data(FOLLOW_USER, {"u": alice_id}, carol)
    await gql.data(FOLLOW_USER, {"u": carol_id}, alice)
    await gql.data(FOLLOW_AUTHOR, {"a": gid("Author", x)}, bob)
    await gql.data(FOLLOW_AUTHOR, {"a": gid("Author", x)}, carol)
    tokens = {"alice": alice, "bob": bob, "carol": carol}
    return Scene(
        a, b, x, y, alice_id, bob_id, carol_id, alice_review["id"], carol_review["id"], tokens
    )


FIGURES = """
query($a: ID!, $b: ID!, $x: ID!, $y: ID!, $ra: ID!, $rc: ID!) {
  a: book(id: $a) { ...bookFigures }
  b: book(id: $b) { ...bookFigures }
  x: author(id: $x) { booksCount followersCount }
  y: author(id: $y) { booksCount followersCount }
  alice: user(username: "alice") { reviewsCount followersCount followingCount }
  bob: user(username: "bob") { reviewsCount followersCount }
  carol: user(username: "carol") { reviewsCount followersCount }
  ra: review(id: $ra) { likesCount commentsCount }
  rc: review(id: $rc) { likesCount commentsCount }
}
fragment bookFigures on Book {
  ratingStats { average count histogram { stars count percent } updatedAt }
  shelfCounts { wantToRead currentlyReading read }
  reviewsCount
}
"""


async def figures(gql: GraphQLClient, scene: Scene) -> dict[str, Any]:
    variables = {
        "a": gid("Book", scene.book_a),
        "b": gid("Book", scene.book_b),
        "x": gid("Author", scene.author_x),
        "y": gid("Author", scene.author_y),
        "ra": scene.alice_review,
        "rc": scene.carol_review,
    }
    return await gql.data(FIGURES, variables)


def histogram(*counts_5_to_1: int) -> list[dict[str, int]]:
    total = sum(counts_5_to_1)
    return [
        {"stars": stars, "count": n, "percent": n * 100 // total if total else 0}
        for stars, n in zip((5, 4, 3, 2, 1), counts_5_to_1, strict=True)
    ]


def assert_true_figures(found: dict[str, Any]) -> None:
    a, b = found["a"], found["b"]
    assert a["ratingStats"]["count"] == 2
    assert a["ratingStats"]["average"] == pytest.approx(4.0)
    assert a["ratingStats"]["histogram"] == histogram(1, 0, 1, 0, 0)
    assert a["ratingStats"]["updatedAt"] is not None
    assert a["shelfCounts"] == {"wantToRead": 1, "currentlyReading": 1, "read": 1}
    assert a["reviewsCount"] == 1
    assert b["ratingStats"]["count"] == 2
    assert b["ratingStats"]["average"] == pytest.approx(1.5)
    assert b["ratingStats"]["histogram"] == histogram(0, 0, 0, 1, 1)
    assert b["shelfCounts"] == {"wantToRead": 0, "currentlyReading": 0, "read": 2}
    assert b["reviewsCount"] == 1
    assert found["x"] == {"booksCount": 2, "followersCount": 2}
    assert found["y"] == {"booksCount": 1, "followersCount": 0}
    assert found["alice"] == {"reviewsCount": 1, "followersCount": 2, "followingCount": 1}
    assert found["bob"] == {"reviewsCount": 0, "followersCount": 0}
    assert found["carol"] == {"reviewsCount": 1, "followersCount": 1}
    assert found["ra"] == {"likesCount": 1, "commentsCount": 2}
    assert found["rc"] == {"likesCount": 0, "commentsCount": 1}


async def raw_aggregates(app: AppUnderTest) -> dict[str, list[dict[str, Any]]]:
    """Every stored document of the aggregate-carrying collections, by collection."""
    db = app.services.store.db
    return {
        name: await db[name].find({}).sort("_id", 1).to_list(None)
        for name in ("books", "authors", "users", "reviews")
    }


@pytest.mark.slow
async def test_reconcile_recomputes_every_figure_and_repairs_drift(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    scene = await build_scene(app)
    stale = await figures(gql, scene)
    assert stale["a"]["ratingStats"]["count"] == 0  # no worker ran: nothing is counted yet
    assert stale["alice"]["followersCount"] == 0

    fixed = run_reconcile(app)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert_true_figures(await figures(gql, scene))
    clean = run_reconcile(app, "--check")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "0 drifted figures found" in clean.stdout

    # Corrupt three figures behind the service's back.
    store = app.services.store
    await store.books.update_one(
        {"_id": scene.book_a}, {"$set": {"rating_stats.counts": [9, 0, 1, 0, 1]}}
    )
    await store.users.update_one({"_id": oid_of(scene.alice)}, {"$set": {"followers_count": 999}})
    await store.reviews.update_one(
        {"_id": oid_of(scene.alice_review)}, {"$set": {"likes_count": 7}}
    )
    corrupted = await raw_aggregates(app)

    check = run_reconcile(app, "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    drift_lines = [line for line in check.stdout.splitlines() if "recomputed" in line]
    assert sorted(drift_lines) == sorted(
        [
            f"book {scene.book_a} rating_stats.counts: stored [9, 0, 1, 0, 1],"
            " recomputed [0, 0, 1, 0, 1]",
            f"user {oid_of(scene.alice)} followers_count: stored 999, recomputed 2",
            f"review {oid_of(scene.alice_review)} likes_count: stored 7, recomputed 1",
        ]
    )
    assert "3 drifted figures found" in check.stdout
    assert await raw_aggregates(app) == corrupted  # --check changes nothing

    repair = run_reconcile(app)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "3 drifted figures fixed" in repair.stdout
    assert_true_figures(await figures(gql, scene))

    again = run_reconcile(app, "--check")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 drifted figures found" in again.stdout


async def test_reconcile_counts_down_after_deletions(app: AppUnderTest, gql: GraphQLClient) -> None:
    """Figures follow the sources down as well as up (in-process reconcile, same code)."""
    scene = await build_scene(app)
    await reconcile(app.services.store, fix=True)
    # Alice's review goes, with its like and comments; carol stops following alice.
    deleted = await gql.data(
        "mutation($id: ID!) { deleteReview(id: $id) }",
        {"id": scene.alice_review},
        scene.tokens["alice"],
    )
    assert deleted["deleteReview"] is True
    await gql.data(
        "mutation($u: ID!) { unfollowUser(userId: $u) { id } }",
        {"u": scene.alice},
        scene.tokens["carol"],
    )

    drifts = await reconcile(app.services.store, fix=True)
    # Book A loses alice's 5-star READ review; alice loses her review and carol as a
    # follower; carol follows one fewer (alice; the author stays). Nothing else moves.
    a, alice, carol = scene.book_a, oid_of(scene.alice), oid_of(scene.carol)
    assert sorted((d.kind.value, d.id, d.field, d.stored, d.recomputed) for d in drifts) == sorted(
        [
            ("book", a, "rating_stats.count", 2, 1),
            ("book", a, "rating_stats.counts", [0, 0, 1, 0, 1], [0, 0, 1, 0, 0]),
            ("book", a, "rating_stats.sum", 8, 3),
            ("book", a, "reviews_count", 1, 0),
            (
                "book",
                a,
                "shelf_counts",
                {"want_to_read": 1, "currently_reading": 1, "read": 1},
                {"want_to_read": 1, "currently_reading": 1, "read": 0},
            ),
            ("user", alice, "followers_count", 2, 1),
            ("user", alice, "reviews_count", 1, 0),
            ("user", carol, "following_count", 2, 1),
        ]
    )
    found = await gql.data(
        "query($a: ID!) { book(id: $a) { ratingStats { count average } reviewsCount"
        ' shelfCounts { read } } user(username: "alice") { reviewsCount followersCount } }',
        {"a": gid("Book", scene.book_a)},
    )
    assert found["book"]["ratingStats"] == {"count": 1, "average": pytest.approx(3.0)}
    assert found["book"]["reviewsCount"] == 0
    assert found["book"]["shelfCounts"]["read"] == 0
    assert found["user"] == {"reviewsCount": 0, "followersCount": 1}
    assert await reconcile(app.services.store, fix=False) == []


# --- the demo data ------------------------------------------------------------------------------


async def test_demo_documents_hold_the_pages_data(demo: DemoApp) -> None:
    page = read_seed_page()
    store = demo.app.services.store
    book = await store.books.find_one({"_id": demo.summary.book_id})
    author = await store.authors.find_one({"_id": demo.summary.author_id})
    assert book is not None
    assert author is not None
    assert book["title"] == page.book.title == "The Dance of Intimacy"
    assert book["subtitle"] == page.book.subtitle
    assert book["description"] == page.book.description
    assert (book["page_count"], book["format"], book["first_published"]) == (
        255,
        "Paperback",
        "1989-01-01",
    )
    assert book["author_ids"] == [demo.summary.author_id]
    assert author["name"] == "Harriet Lerner"
    assert author["bio"] == page.author.bio

    assert await store.users.count_documents({}) == demo.summary.inserted["users"]
    assert await store.reviews.count_documents({}) == demo.summary.inserted["reviews"]
    texts = await store.reviews.find({"has_text": True}).to_list(None)
    assert len(texts) == len(page.reviews) == 29
    assert {r["text"] for r in texts} == {r.text for r in page.reviews}
    first = page.reviews[0]
    heather_review = next(r for r in texts if r["text"] == first.text)
    heather = await store.users.find_one({"_id": heather_review["user_id"]})
    assert heather is not None
    assert heather["display_name"] == "Heather"
    assert heather["password_hash"] is None  # demo readers cannot log in
    assert heather_review["created_at"].date() == first.reviewed_on


async def test_demo_figures_keep_the_pages_proportions(demo: DemoApp) -> None:
    data = await demo.app.client.data(
        "query($id: ID!, $a: ID!) { book(id: $id) { reviewsCount"
        " ratingStats { average count histogram { stars count percent } }"
        " shelfCounts { wantToRead currentlyReading read } }"
        " author(id: $a) { name booksCount } }",
        {"id": demo.book_id, "a": demo.author_id},
    )
    book = data["book"]
    stats = book["ratingStats"]
    assert [b["percent"] for b in stats["histogram"]] == [38, 34, 20, 4, 2]
    assert [b["stars"] for b in stats["histogram"]] == [5, 4, 3, 2, 1]
    ratings = demo.summary.ratings  # 1 star first
    assert [b["count"] for b in stats["histogram"]] == list(reversed(ratings))
    assert stats["count"] == sum(ratings)
    assert stats["average"] == pytest.approx(
        sum((i + 1) * n for i, n in enumerate(ratings)) / sum(ratings)
    )
    assert 3.9 < stats["average"] < 4.15  # the page's 4.02, within rounding of the scaled counts
    assert book["shelfCounts"]["wantToRead"] == demo.summary.want_to_read
    assert book["shelfCounts"]["currentlyReading"] == demo.summary.currently_reading
    assert book["shelfCounts"]["wantToRead"] > 10 * book["shelfCounts"]["currentlyReading"]
    assert book["reviewsCount"] == 29
    assert data["author"] == {"name": "Harriet Lerner", "booksCount": 1}
    # The fixture reconciled already: nothing has drifted.
    assert await reconcile(demo.app.services.store, fix=False) == []
