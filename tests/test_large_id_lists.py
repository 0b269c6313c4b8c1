"""Lists of ids longer than one `$in` may hold on the embedded MongoDB on SQLite (about 495:
"Expression tree is too large") are queried 250 at a time (service/batches.py): `books
reconcile --check` over 600+ users, as a real process; `friendsReviews` of a viewer who follows
600 users, through GraphQL, merged in order across batches; the commands that costs; and the
demo loader clearing a crashed load of more than 250 users.

The session's MongoDB is mongoeco in memory, which has no such limit: this module runs a
mongoeco on a SQLite file of its own (the engine of `make dev`), where the limit is real.
"""

import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from devtools.demo.loader import load_demo
from devtools.embedded import Servers
from service.batches import IN_BATCH
from tests.support.app import AppUnderTest, app_settings, running_app
from tests.support.documents import (
    gid,
    insert_author,
    insert_book,
    oid_of,
    quick_user,
    review_doc,
    user_doc,
)
from tests.support.processes import run_books
from tests.support.servers import OwnMongo, own_mongo
from workers.reconcile import reconcile

pytestmark = pytest.mark.slow  # a SQLite mongoeco of its own, 600 users, `books` processes

T0 = datetime(2020, 1, 1, tzinfo=UTC)
FOLLOWED = 600
REVIEWERS = [0, 100, 249, 250, 251, 300, 499, 500, 550, 599]  # across the three batches
PAGE = """query($b: ID!, $first: Int, $after: String) { book(id: $b) {
  friendsReviews(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { id user { username } } } } } }"""


@dataclass
class World:
    app: AppUnderTest
    book: str
    followed: list[ObjectId]  # the users the viewer follows, in their order
    viewer: str  # token of the viewer following all FOLLOWED users
    reviews: list[str]  # the followed users' review ids, newest first


@pytest.fixture(scope="module")
def sqlite_mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnMongo]:
    with own_mongo(tmp_path_factory.mktemp("sqlite-mongo") / "books.db") as mongo:
        yield mongo


async def follow_all(app: AppUnderTest, follower: str, targets: list[ObjectId]) -> None:
    follower_id = oid_of(follower)
    await app.services.store.follows.insert_many(
        [
            {"follower_id": follower_id, "target_kind": "user", "target_id": t, "created_at": T0}
            for t in targets
        ]
    )


@pytest.fixture(scope="module")
async def world(servers: Servers, sqlite_mongo: OwnMongo) -> AsyncIterator[World]:
    """A book; FOLLOWED users, REVIEWERS of whom reviewed it (a minute apart, the last
    newest), one more reviewer nobody follows, rating-only entries; one viewer following all
    FOLLOWED users. Built directly in MongoDB (setup, not the subject)."""
    settings = app_settings(sqlite_mongo.url, servers.redis_url)
    async with running_app(settings) as app:
        store = app.services.store
        book = await insert_book(app, "Many Friends", [await insert_author(app)])
        users = [user_doc(f"friend{i:03d}", T0) for i in range(FOLLOWED)]
        stranger = user_doc("stranger", T0)
        await store.users.insert_many([*users, stranger])
        followed = [u["_id"] for u in users]
        reviews = []
        for minute, i in enumerate(REVIEWERS):
            reviews.append(entry(followed[i], book, minute, text=f"review by friend{i:03d}"))
        reviews.append(entry(stranger["_id"], book, 99, text="not a friend's"))
        reviews += [entry(followed[i], book, 98, rating=3) for i in (1, 260, 510)]  # no text
        await store.reviews.insert_many(reviews)
        viewer, viewer_id = await quick_user(app, "viewer")
        await follow_all(app, viewer_id, followed)
        newest_first = [gid("Review", r["_id"]) for r in reversed(reviews[: len(REVIEWERS)])]
        yield World(app, gid("Book", book), followed, viewer, newest_first)


def entry(
    user: ObjectId, book: ObjectId, minute: int, text: str | None = None, rating: int | None = None
) -> dict[str, Any]:
    return review_doc(user, book, T0 + timedelta(minutes=minute), text=text, rating=rating)


async def friends_pages(world: World, token: str, first: int) -> tuple[list[str], list[int]]:
    """Every friendsReview id, page after page, and the totalCount each page gave."""
    ids: list[str] = []
    totals: list[int] = []
    after = None
    while True:
        data = await world.app.client.data(
            PAGE, {"b": world.book, "first": first, "after": after}, token
        )
        page = data["book"]["friendsReviews"]
        ids += [edge["node"]["id"] for edge in page["edges"]]
        totals.append(page["totalCount"])
        if not page["pageInfo"]["hasNextPage"]:
            return ids, totals
        after = page["pageInfo"]["endCursor"]


async def test_friends_reviews_of_a_viewer_following_600_users(world: World) -> None:
    # All at once, then in pages of 3 whose boundaries fall inside and across batches.
    everything, totals = await friends_pages(world, world.viewer, 100)
    assert everything == world.reviews
    assert totals == [len(REVIEWERS)]

    paged, totals = await friends_pages(world, world.viewer, 3)
    assert paged == world.reviews
    assert totals == [len(REVIEWERS)] * 4

    data = await world.app.client.data(PAGE, {"b": world.book, "first": 2}, world.viewer)
    usernames = [e["node"]["user"]["username"] for e in data["book"]["friendsReviews"]["edges"]]
    assert usernames == ["friend599", "friend550"]


async def friends_reviews_commands(app: AppUnderTest, book: str, token: str) -> dict[str, int]:
    """The MongoDB commands of one friendsReviews page with its totalCount."""
    app.services.commands.reset()
    await app.client.data(PAGE, {"b": book, "first": 3}, token)
    return dict(app.services.commands.counts)


async def test_friends_reviews_cost_one_find_and_one_count_per_250_followed_users(
    app: AppUnderTest,
) -> None:
    """Commands are counted on the session's MongoDB (the count does not depend on the
    engine): a viewer following 1, then 250, 251 and 600 users, some of whom reviewed the book."""
    book = await insert_book(app, "Counted")
    users = [user_doc(f"counted{i:03d}", T0) for i in range(FOLLOWED)]
    await app.services.store.users.insert_many(users)
    await app.services.store.reviews.insert_many(
        [entry(users[i]["_id"], book, minute, text="text") for minute, i in enumerate(REVIEWERS)]
    )
    token, viewer = await quick_user(app)
    counts = {}
    followed = 0
    for following in (1, IN_BATCH, IN_BATCH + 1, FOLLOWED):
        await follow_all(app, viewer, [u["_id"] for u in users[followed:following]])
        followed = following
        counts[following] = await friends_reviews_commands(app, gid("Book", book), token)

    one = counts[1]

    def more(batches: int) -> dict[str, int]:
        """One more find (a page) and one more aggregate (a count) per further batch."""
        return {**one, "find": one["find"] + batches, "aggregate": one["aggregate"] + batches}

    assert one["aggregate"] == 1  # the totalCount
    assert counts[IN_BATCH] == one  # one page find and one count, as for a single follow
    assert counts[IN_BATCH + 1] == more(1)
    assert counts[FOLLOWED] == more(2)


async def test_reconcile_recomputes_600_users_with_one_aggregate_per_250(world: World) -> None:
    users = await world.app.services.store.users.count_documents({})
    reviews = await world.app.services.store.reviews.count_documents({})
    counter = world.app.services.commands
    counter.reset()
    await reconcile(world.app.services.store, fix=False)
    assert users > 500 and reviews < IN_BATCH  # two reconcile batches (500 and the rest) of users

    # One aggregate per figure part per 250 ids: the book (1 part), the reviews (2 parts), the
    # users in reconcile batches of 500 and the rest (3 parts each), the author (2 parts).
    user_batches = 2 + -(-(users - 500) // IN_BATCH)
    assert counter.counts["aggregate"] == 1 + 2 + 3 * user_batches + 2


def run_reconcile(app: AppUnderTest, *args: str) -> subprocess.CompletedProcess[str]:
    return run_books(app.settings, "reconcile", *args, timeout=300, LOG_LEVEL="WARNING")


async def test_reconcile_check_over_600_users_exits_0_then_1_on_drift(world: World) -> None:
    fixed = run_reconcile(world.app)  # every followed user has a follower: fix that first
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stderr == ""
    clean = run_reconcile(world.app, "--check")
    assert (clean.returncode, clean.stderr) == (0, "")
    assert clean.stdout.splitlines()[-1] == "0 drifted figures found"

    # A user in the last batch of ids, behind the service's back.
    last = world.followed[-1]
    await world.app.services.store.users.update_one({"_id": last}, {"$set": {"followers_count": 7}})
    drift = run_reconcile(world.app, "--check")
    assert (drift.returncode, drift.stderr) == (1, "")
    assert drift.stdout.splitlines() == [
        f"user {last} followers_count: stored 7, recomputed 1",
        "1 drifted figures found",
    ]
    assert run_reconcile(world.app).returncode == 0
    assert run_reconcile(world.app, "--check").returncode == 0


async def test_a_crashed_demo_load_is_cleared_in_batches_before_loading_again(
    app: AppUnderTest,
) -> None:
    """The loader deletes a crashed load's users (more than IN_BATCH at make dev's scale) and
    reviews by id batches; loading again leaves exactly one data set."""
    store = app.services.store
    first = await load_demo(store, 0.02)
    assert first.inserted["users"] > IN_BATCH
    await store.meta.delete_many({})  # as if the load had crashed before its marker

    again = await load_demo(store, 0.02)

    assert again.cleared_partial_load
    assert await store.users.count_documents({}) == again.inserted["users"]
    assert await store.reviews.count_documents({}) == again.inserted["reviews"]
    assert await store.books.count_documents({}) == 1
    assert await store.authors.count_documents({}) == 1
