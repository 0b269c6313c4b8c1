"""Read-your-writes in mutation payloads, over GraphQL over HTTP.

Every figure a mutation returns counts the viewer's own write exactly once: computed from the
sources after the write (schema.payload_figures), never the stored figure the worker has or
has not recomputed yet. Without a worker the payload shows the figure before the write plus
its effect while the stored figure stays as it was (the worker is the only writer of stored
figures). With a real worker process, once it has stored the figure that counts the write, a
repeated idempotent write (like, rating, shelf, follow) still counts it once, not twice.
"""

from typing import Any

import pytest

from devtools.embedded import Servers
from tests.support.app import AppUnderTest, GraphQLClient
from tests.support.documents import quick_user, seed_catalog
from tests.support.figures import (
    FIGURES,
    author_figures,
    book_figures,
    figures,
    review_figures,
    user_figures,
)
from tests.support.pipeline import World, until_exact, world
from tests.support.processes import Child, running, start_worker
from workers.reconcile import reconcile

# Every payload selects the figures it can reach (fragment F: id and figures of any node).
LIKE = "mutation($r: ID!) { likeReview(reviewId: $r) { ...F viewerHasLiked } }" + FIGURES
UNLIKE = "mutation($r: ID!) { unlikeReview(reviewId: $r) { ...F viewerHasLiked } }" + FIGURES
RATE = (
    "mutation($b: ID!, $s: Int!) { rateBook(bookId: $b, stars: $s) { rating book { ...F } } }"
    + FIGURES
)
CLEAR = "mutation($b: ID!) { clearRating(bookId: $b) { rating book { ...F } } }" + FIGURES
SHELVE = (
    "mutation($b: ID!, $s: Shelf) { setShelf(bookId: $b, shelf: $s) { shelf book { ...F } } }"
    + FIGURES
)
WRITE = (
    "mutation($b: ID!, $t: String!) { writeReview(input: {bookId: $b, text: $t})"
    " { id book { ...F } user { ...F } } }" + FIGURES
)
DELETE_REVIEW = "mutation($id: ID!) { deleteReview(id: $id) }"
COMMENT = (
    "mutation($r: ID!, $t: String!) { addComment(reviewId: $r, text: $t) { id review { ...F } } }"
    + FIGURES
)
DELETE_COMMENT = "mutation($id: ID!) { deleteComment(id: $id) }"
FOLLOW_USER = "mutation($u: ID!) { followUser(userId: $u) { ...F viewerIsFollowing } }" + FIGURES
UNFOLLOW_USER = (
    "mutation($u: ID!) { unfollowUser(userId: $u) { ...F viewerIsFollowing } }" + FIGURES
)
FOLLOW_AUTHOR = (
    "mutation($a: ID!) { followAuthor(authorId: $a) { ...F viewerIsFollowing } }" + FIGURES
)
UNFOLLOW_AUTHOR = (
    "mutation($a: ID!) { unfollowAuthor(authorId: $a) { ...F viewerIsFollowing } }" + FIGURES
)


async def send(client: GraphQLClient, document: str, token: str, **variables: Any) -> Any:
    """The payload of a one-mutation document."""
    data = await client.data(document, variables, token)
    (payload,) = data.values()
    return payload


async def repeated(client: GraphQLClient, document: str, token: str, **variables: Any) -> Any:
    """The payload of an idempotent write sent twice in a row: the repeat must answer the same."""
    first = await send(client, document, token, **variables)
    assert await send(client, document, token, **variables) == first
    return first


async def stored(client: GraphQLClient, node_id: str) -> dict[str, Any]:
    """The node's figures as a query shows them: the stored ones."""
    return (await figures(client, [node_id]))[node_id]


async def reviewed(app: AppUnderTest, book: str, text: str = "Worth it") -> tuple[str, str, str]:
    """A new reader's review of `book`: (their token, their id, the review's id)."""
    token, user_id = await quick_user(app)
    review = await send(app.client, WRITE, token, b=book, t=text)
    return token, user_id, review["id"]


# --- without a worker: before + the write's own effect; the stored figure stays ---------------


async def test_like_and_unlike_count_the_viewers_like_once(app: AppUnderTest) -> None:
    catalog = await seed_catalog(app)
    client = app.client
    _, _, review = await reviewed(app, catalog.book(0))
    for _ in range(2):
        await send(client, LIKE, (await quick_user(app))[0], r=review)
    await reconcile(app.services.store, fix=True)
    assert await stored(client, review) == review_figures(review, likes=2, comments=0)

    viewer, _ = await quick_user(app)
    liked = review_figures(review, likes=3, comments=0) | {"viewerHasLiked": True}
    assert await repeated(client, LIKE, viewer, r=review) == liked  # a repeat counts once
    assert await stored(client, review) == review_figures(review, likes=2, comments=0)
    unliked = review_figures(review, likes=2, comments=0) | {"viewerHasLiked": False}
    assert await repeated(client, UNLIKE, viewer, r=review) == unliked


async def test_rate_and_clear_rating_count_the_viewers_stars_once(app: AppUnderTest) -> None:
    catalog = await seed_catalog(app)
    client, book = app.client, catalog.book(0)
    for stars in (5, 3):
        await send(client, RATE, (await quick_user(app))[0], b=book, s=stars)
    await reconcile(app.services.store, fix=True)
    before = book_figures(book, {5: 1, 3: 1}, (0, 0, 2), reviews=0)
    assert await stored(client, book) == before

    viewer, _ = await quick_user(app)
    four = {"rating": 4, "book": book_figures(book, {5: 1, 4: 1, 3: 1}, (0, 0, 3), reviews=0)}
    assert await repeated(client, RATE, viewer, b=book, s=4) == four  # the same stars count once
    two = {"rating": 2, "book": book_figures(book, {5: 1, 3: 1, 2: 1}, (0, 0, 3), reviews=0)}
    assert await send(client, RATE, viewer, b=book, s=2) == two  # moved from 4 to 2
    assert await stored(client, book) == before
    cleared = {"rating": None, "book": book_figures(book, {5: 1, 3: 1}, (0, 0, 3), reviews=0)}
    assert await send(client, CLEAR, viewer, b=book) == cleared  # still on the READ shelf


async def test_set_shelf_counts_the_viewers_shelf_once(app: AppUnderTest) -> None:
    catalog = await seed_catalog(app)
    client, book = app.client, catalog.book(0)
    await send(client, SHELVE, (await quick_user(app))[0], b=book, s="WANT_TO_READ")
    await send(client, RATE, (await quick_user(app))[0], b=book, s=5)
    await reconcile(app.services.store, fix=True)
    before = book_figures(book, {5: 1}, (1, 0, 1), reviews=0)
    assert await stored(client, book) == before

    viewer, _ = await quick_user(app)
    reading = {"shelf": "CURRENTLY_READING", "book": book_figures(book, {5: 1}, (1, 1, 1), 0)}
    assert await repeated(client, SHELVE, viewer, b=book, s="CURRENTLY_READING") == reading
    wanted = {"shelf": "WANT_TO_READ", "book": book_figures(book, {5: 1}, (2, 0, 1), 0)}
    assert await send(client, SHELVE, viewer, b=book, s="WANT_TO_READ") == wanted
    assert await stored(client, book) == before
    # Off every shelf, with no rating or text, the entry is gone: the payload is null.
    assert await send(client, SHELVE, viewer, b=book, s=None) is None


async def test_write_and_delete_review_count_the_viewers_review_once(app: AppUnderTest) -> None:
    catalog = await seed_catalog(app)
    client, book = app.client, catalog.book(0)
    await reviewed(app, book)
    await reconcile(app.services.store, fix=True)
    assert await stored(client, book) == book_figures(book, {}, (0, 0, 1), reviews=1)

    viewer, viewer_id = await quick_user(app)
    written = await send(client, WRITE, viewer, b=book, t="Mine")
    assert written["book"] == book_figures(book, {}, (0, 0, 2), reviews=2)
    assert written["user"] == user_figures(viewer_id, reviews=1, followers=0, following=0)
    rewritten = await send(client, WRITE, viewer, b=book, t="Mine, edited")  # same entry
    assert rewritten == written
    assert await stored(client, book) == book_figures(book, {}, (0, 0, 1), reviews=1)
    # deleteReview answers a Boolean (no figure); the next payload that shows the book counts
    # the deletion.
    assert await send(client, DELETE_REVIEW, viewer, id=written["id"]) is True
    rated = await send(client, RATE, viewer, b=book, s=3)
    assert rated["book"] == book_figures(book, {3: 1}, (0, 0, 2), reviews=1)


async def test_add_and_delete_comment_count_each_comment_once(app: AppUnderTest) -> None:
    catalog = await seed_catalog(app)
    client = app.client
    _, _, review = await reviewed(app, catalog.book(0))
    await send(client, COMMENT, (await quick_user(app))[0], r=review, t="First")
    await reconcile(app.services.store, fix=True)
    assert await stored(client, review) == review_figures(review, likes=0, comments=1)

    viewer, _ = await quick_user(app)
    first = await send(client, COMMENT, viewer, r=review, t="Agreed")
    assert first["review"] == review_figures(review, likes=0, comments=2)
    second = await send(client, COMMENT, viewer, r=review, t="Still agreed")
    assert second["review"] == review_figures(review, likes=0, comments=3)
    assert await stored(client, review) == review_figures(review, likes=0, comments=1)
    # deleteComment answers a Boolean; the next payload that shows the review counts it.
    assert await send(client, DELETE_COMMENT, viewer, id=first["id"]) is True
    third = await send(client, COMMENT, viewer, r=review, t="Once more")
    assert third["review"] == review_figures(review, likes=0, comments=3)


async def test_follow_and_unfollow_count_the_viewers_follow_once(app: AppUnderTest) -> None:
    catalog = await seed_catalog(app)
    client, author = app.client, catalog.author(0)
    _, target = await quick_user(app)
    fan, _ = await quick_user(app)
    await send(client, FOLLOW_USER, fan, u=target)
    await send(client, FOLLOW_AUTHOR, fan, a=author)
    await reconcile(app.services.store, fix=True)
    assert await stored(client, target) == user_figures(target, 0, followers=1, following=0)
    assert await stored(client, author) == author_figures(author, followers=1, books=2)

    viewer, _ = await quick_user(app)
    following = user_figures(target, 0, followers=2, following=0) | {"viewerIsFollowing": True}
    assert await repeated(client, FOLLOW_USER, viewer, u=target) == following
    fan_of = author_figures(author, followers=2, books=2) | {"viewerIsFollowing": True}
    assert await repeated(client, FOLLOW_AUTHOR, viewer, a=author) == fan_of
    assert await stored(client, target) == user_figures(target, 0, followers=1, following=0)
    assert await stored(client, author) == author_figures(author, followers=1, books=2)

    left = user_figures(target, 0, followers=1, following=0) | {"viewerIsFollowing": False}
    assert await repeated(client, UNFOLLOW_USER, viewer, u=target) == left
    left_author = author_figures(author, followers=1, books=2) | {"viewerIsFollowing": False}
    assert await repeated(client, UNFOLLOW_AUTHOR, viewer, a=author) == left_author


async def test_each_mutation_of_a_request_counts_its_own_write(app: AppUnderTest) -> None:
    """Mutation fields run one after the other; each payload's figures are read after its own
    write, not reused from an earlier field of the same request."""
    catalog = await seed_catalog(app)
    _, _, review = await reviewed(app, catalog.book(0))
    viewer, _ = await quick_user(app)
    data = await app.client.data(
        "mutation($r: ID!) { a: likeReview(reviewId: $r) { likesCount }"
        " b: unlikeReview(reviewId: $r) { likesCount }"
        " c: likeReview(reviewId: $r) { likesCount } }",
        {"r": review},
        viewer,
    )
    assert data == {"a": {"likesCount": 1}, "b": {"likesCount": 0}, "c": {"likesCount": 1}}


async def test_figures_anywhere_in_a_payload_are_computed(app: AppUnderTest) -> None:
    """Nested objects (the review's book, its authors, its page of reviews and their users)
    show computed figures too: a normalized cache stores each of them by id."""
    catalog = await seed_catalog(app)
    client, book, author = app.client, catalog.book(0), catalog.author(0)
    _, reviewer, review = await reviewed(app, book)
    viewer, _ = await quick_user(app)
    await send(client, FOLLOW_USER, viewer, u=reviewer)
    await send(client, FOLLOW_AUTHOR, viewer, a=author)
    await send(client, RATE, viewer, b=book, s=4)
    # No worker ran: every stored figure is still 0.
    assert await stored(client, review) == review_figures(review, likes=0, comments=0)

    document = """mutation($r: ID!) { likeReview(reviewId: $r) {
      likesCount
      user { followersCount }
      book {
        ratingStats { count }
        reviewsCount
        authors { id followersCount }
        reviews(first: 5) { edges { node { id likesCount user { id followersCount } } } }
      } } }"""
    assert await send(client, document, viewer, r=review) == {
        "likesCount": 1,
        "user": {"followersCount": 1},
        "book": {
            "ratingStats": {"count": 1},
            "reviewsCount": 1,
            "authors": [{"id": author, "followersCount": 1}],
            "reviews": {
                "edges": [
                    {
                        "node": {
                            "id": review,
                            "likesCount": 1,
                            "user": {"id": reviewer, "followersCount": 1},
                        }
                    }
                ]
            },
        },
    }


# --- with a worker process: after it stored the write's figure, a repeat still counts once ----


async def settled(w: World, expected: dict[str, Any], worker: Child) -> None:
    """Until the worker has stored `expected` (and reconcile finds no drift)."""
    await until_exact(w, w.client, expected, worker)


@pytest.mark.slow
async def test_likes_and_comments_count_once_with_the_worker_running(servers: Servers) -> None:
    async with world(servers) as w:
        worker = start_worker(w.settings, "ryw-likes")
        with running(worker):
            client = w.client
            _, _, review = await reviewed(w.app, w.catalog.book(0))
            viewer, _ = await quick_user(w.app)

            has_liked, has_not_liked = {"viewerHasLiked": True}, {"viewerHasLiked": False}
            liked = review_figures(review, likes=1, comments=0)
            assert await send(client, LIKE, viewer, r=review) == liked | has_liked
            await settled(w, {review: liked}, worker)
            assert await send(client, LIKE, viewer, r=review) == liked | has_liked
            unliked = review_figures(review, likes=0, comments=0)
            assert await send(client, UNLIKE, viewer, r=review) == unliked | has_not_liked
            await settled(w, {review: unliked}, worker)
            assert await send(client, UNLIKE, viewer, r=review) == unliked | has_not_liked

            first = await send(client, COMMENT, viewer, r=review, t="One")
            assert first["review"] == review_figures(review, likes=0, comments=1)
            await settled(w, {review: review_figures(review, likes=0, comments=1)}, worker)
            second = await send(client, COMMENT, viewer, r=review, t="Two")
            assert second["review"] == review_figures(review, likes=0, comments=2)
            assert await send(client, DELETE_COMMENT, viewer, id=first["id"]) is True
            await settled(w, {review: review_figures(review, likes=0, comments=1)}, worker)
            third = await send(client, COMMENT, viewer, r=review, t="Three")
            assert third["review"] == review_figures(review, likes=0, comments=2)


@pytest.mark.slow
async def test_ratings_shelves_and_reviews_count_once_with_the_worker_running(
    servers: Servers,
) -> None:
    async with world(servers) as w:
        worker = start_worker(w.settings, "ryw-ratings")
        with running(worker):
            client, book = w.client, w.catalog.book(0)
            viewer, viewer_id = await quick_user(w.app)

            four = book_figures(book, {4: 1}, (0, 0, 1), reviews=0)
            assert await send(client, RATE, viewer, b=book, s=4) == {"rating": 4, "book": four}
            await settled(w, {book: four}, worker)
            assert await send(client, RATE, viewer, b=book, s=4) == {"rating": 4, "book": four}
            # Another value after the worker stored the first: the histogram moves, count stays.
            two = book_figures(book, {2: 1}, (0, 0, 1), reviews=0)
            assert await send(client, RATE, viewer, b=book, s=2) == {"rating": 2, "book": two}
            await settled(w, {book: two}, worker)
            cleared = book_figures(book, {}, (0, 0, 1), reviews=0)
            assert await send(client, CLEAR, viewer, b=book) == {"rating": None, "book": cleared}

            reading = book_figures(book, {}, (0, 1, 0), reviews=0)
            shelved = {"shelf": "CURRENTLY_READING", "book": reading}
            assert await send(client, SHELVE, viewer, b=book, s="CURRENTLY_READING") == shelved
            await settled(w, {book: reading}, worker)
            assert await send(client, SHELVE, viewer, b=book, s="CURRENTLY_READING") == shelved

            written = await send(client, WRITE, viewer, b=book, t="Mine")
            with_text = book_figures(book, {}, (0, 1, 0), reviews=1)
            author_of_it = user_figures(viewer_id, reviews=1, followers=0, following=0)
            assert (written["book"], written["user"]) == (with_text, author_of_it)
            await settled(w, {book: with_text, viewer_id: author_of_it}, worker)
            rewritten = await send(client, WRITE, viewer, b=book, t="Mine, edited")
            assert (rewritten["book"], rewritten["user"]) == (with_text, author_of_it)
            # After the worker stored the deletion, a new review counts once again.
            assert await send(client, DELETE_REVIEW, viewer, id=written["id"]) is True
            gone = book_figures(book, {}, (0, 0, 0), reviews=0)
            no_reviews = user_figures(viewer_id, reviews=0, followers=0, following=0)
            await settled(w, {book: gone, viewer_id: no_reviews}, worker)
            again = await send(client, WRITE, viewer, b=book, t="Mine, again")
            new_entry = book_figures(book, {}, (0, 0, 1), reviews=1)  # a new entry: READ
            assert (again["book"], again["user"]) == (new_entry, author_of_it)


@pytest.mark.slow
async def test_follows_count_once_with_the_worker_running(servers: Servers) -> None:
    async with world(servers) as w:
        worker = start_worker(w.settings, "ryw-follows")
        with running(worker):
            client, author = w.client, w.catalog.author(1)  # the author of one book
            _, target = await quick_user(w.app)
            viewer, _ = await quick_user(w.app)
            following, not_following = {"viewerIsFollowing": True}, {"viewerIsFollowing": False}

            followed = user_figures(target, 0, followers=1, following=0)
            fan_of = author_figures(author, followers=1, books=1)
            assert await send(client, FOLLOW_USER, viewer, u=target) == followed | following
            assert await send(client, FOLLOW_AUTHOR, viewer, a=author) == fan_of | following
            await settled(w, {target: followed, author: fan_of}, worker)
            assert await send(client, FOLLOW_USER, viewer, u=target) == followed | following
            assert await send(client, FOLLOW_AUTHOR, viewer, a=author) == fan_of | following

            left = user_figures(target, 0, followers=0, following=0)
            left_author = author_figures(author, followers=0, books=1)
            assert await send(client, UNFOLLOW_USER, viewer, u=target) == left | not_following
            assert (
                await send(client, UNFOLLOW_AUTHOR, viewer, a=author) == left_author | not_following
            )
            await settled(w, {target: left, author: left_author}, worker)
            assert await send(client, UNFOLLOW_USER, viewer, u=target) == left | not_following
            assert (
                await send(client, UNFOLLOW_AUTHOR, viewer, a=author) == left_author | not_following
            )
