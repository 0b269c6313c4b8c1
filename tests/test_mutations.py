"""Every Mutation of the contract, over GraphQL over HTTP on real MongoDB (mongoeco) and Redis.

Aggregate figures (likesCount, ratingStats, ...) are maintained by the worker, which does not
run here: these tests check the source documents and the fields read from them.
"""

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
    UNFOLLOW_AUTHOR,
    UNFOLLOW_USER,
    UNLIKE,
    VIEWER_REVIEW,
    write_review,
)

# --- signUp ----------------------------------------------------------------------------------


async def test_sign_up_creates_a_user_with_a_default_display_name(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    data = await gql.data(
        "mutation($i: SignUpInput!) { signUp(input: $i) { token user { id username displayName"
        " reviewsCount followersCount followingCount } } }",
        {"i": {"username": "Reader_One", "password": "correct-horse"}},
    )
    user = data["signUp"]["user"]
    assert user["username"] == "Reader_One"
    assert user["displayName"] == "Reader_One"
    assert (user["reviewsCount"], user["followersCount"], user["followingCount"]) == (0, 0, 0)
    doc = await app.services.store.users.find_one({"_id": oid_of(user["id"])})
    assert doc is not None
    assert doc["username"] == "Reader_One"
    assert doc["username_key"] == "reader_one"
    viewer = await gql.data("{ viewer { id } }", token=data["signUp"]["token"])
    assert viewer["viewer"]["id"] == user["id"]


async def test_sign_up_keeps_a_given_display_name(gql: GraphQLClient) -> None:
    data = await gql.data(
        "mutation($i: SignUpInput!) { signUp(input: $i) { user { displayName } } }",
        {"i": {"username": "harriet", "password": "correct-horse", "displayName": "Harriet L."}},
    )
    assert data["signUp"]["user"]["displayName"] == "Harriet L."


# --- rateBook / clearRating -------------------------------------------------------------------


async def test_rate_book_creates_then_updates_one_entry(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    token, user_id = await quick_user(app)
    first = (await gql.data(RATE, {"b": gid("Book", book), "s": 4}, token))["rateBook"]
    assert first["rating"] == 4
    assert first["shelf"] == "READ"  # a rating implies the book was read
    assert first["text"] is None
    assert first["spoiler"] is False
    assert first["book"]["id"] == gid("Book", book)
    assert first["user"]["id"] == user_id

    second = (await gql.data(RATE, {"b": gid("Book", book), "s": 2}, token))["rateBook"]
    assert second["id"] == first["id"]
    assert second["rating"] == 2
    assert second["createdAt"] == first["createdAt"]
    docs = await app.services.store.reviews.find({"book_id": book}).to_list(None)
    assert len(docs) == 1
    assert docs[0]["rating"] == 2
    assert docs[0]["user_id"] == oid_of(user_id)

    mine = await gql.data(VIEWER_REVIEW, {"b": gid("Book", book)}, token)
    assert mine["book"]["viewerReview"]["id"] == first["id"]
    assert mine["book"]["viewerReview"]["rating"] == 2


async def test_clear_rating_keeps_an_entry_that_still_has_a_shelf(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    token, _ = await quick_user(app)
    rated = (await gql.data(RATE, {"b": gid("Book", book), "s": 5}, token))["rateBook"]
    cleared = (await gql.data(CLEAR, {"b": gid("Book", book)}, token))["clearRating"]
    assert cleared is not None
    assert cleared["id"] == rated["id"]
    assert cleared["rating"] is None
    assert cleared["shelf"] == "READ"
    doc = await app.services.store.reviews.find_one({"_id": oid_of(rated["id"])})
    assert doc is not None
    assert doc["rating"] is None


async def test_clear_rating_deletes_an_entry_left_empty(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    token, _ = await quick_user(app)
    await gql.data(RATE, {"b": gid("Book", book), "s": 3}, token)
    off_shelf = (await gql.data(SHELF, {"b": gid("Book", book), "s": None}, token))["setShelf"]
    assert off_shelf is not None  # the rating still holds the entry
    assert (off_shelf["shelf"], off_shelf["rating"]) == (None, 3)

    assert (await gql.data(CLEAR, {"b": gid("Book", book)}, token))["clearRating"] is None
    assert await app.services.store.reviews.count_documents({}) == 0
    mine = await gql.data(VIEWER_REVIEW, {"b": gid("Book", book)}, token)
    assert mine["book"]["viewerReview"] is None


async def test_clear_rating_without_an_entry_returns_null(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    token, _ = await quick_user(app)
    assert (await gql.data(CLEAR, {"b": gid("Book", book)}, token))["clearRating"] is None
    assert await app.services.store.reviews.count_documents({}) == 0


# --- setShelf -------------------------------------------------------------------------------


async def test_set_shelf_creates_moves_and_removes_the_entry(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    token, _ = await quick_user(app)
    want = (await gql.data(SHELF, {"b": gid("Book", book), "s": "WANT_TO_READ"}, token))["setShelf"]
    assert want["shelf"] == "WANT_TO_READ"
    assert want["rating"] is None
    assert want["text"] is None

    reading = (await gql.data(SHELF, {"b": gid("Book", book), "s": "CURRENTLY_READING"}, token))[
        "setShelf"
    ]
    assert reading["id"] == want["id"]
    assert reading["shelf"] == "CURRENTLY_READING"
    assert await app.services.store.reviews.count_documents({}) == 1

    # Nothing but the shelf held the entry: removing the shelf deletes it.
    assert (await gql.data(SHELF, {"b": gid("Book", book), "s": None}, token))["setShelf"] is None
    assert await app.services.store.reviews.count_documents({}) == 0
    shelves = await gql.data(
        "query($u: String!) { user(username: $u) { reviews { totalCount } } }",
        {"u": (await gql.data("{ viewer { username } }", token=token))["viewer"]["username"]},
    )
    assert shelves["user"]["reviews"]["totalCount"] == 0


async def test_set_shelf_on_a_rated_entry_keeps_the_rating(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    token, _ = await quick_user(app)
    await gql.data(RATE, {"b": gid("Book", book), "s": 4}, token)
    moved = (await gql.data(SHELF, {"b": gid("Book", book), "s": "WANT_TO_READ"}, token))[
        "setShelf"
    ]
    assert (moved["shelf"], moved["rating"]) == ("WANT_TO_READ", 4)


async def test_set_shelf_null_without_an_entry_returns_null(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    token, _ = await quick_user(app)
    assert (await gql.data(SHELF, {"b": gid("Book", book), "s": None}, token))["setShelf"] is None
    assert await app.services.store.reviews.count_documents({}) == 0


async def test_set_shelf_lists_the_entry_on_the_users_shelf(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    first, second = await insert_book(app, "First"), await insert_book(app, "Second")
    token, _ = await quick_user(app, "shelver")
    await gql.data(SHELF, {"b": gid("Book", first), "s": "WANT_TO_READ"}, token)
    await gql.data(SHELF, {"b": gid("Book", second), "s": "READ"}, token)
    data = await gql.data(
        '{ user(username: "shelver") { all: reviews { totalCount }'
        " want: reviews(shelf: WANT_TO_READ) { edges { node { book { title } } } } } }"
    )
    assert data["user"]["all"]["totalCount"] == 2
    assert [e["node"]["book"]["title"] for e in data["user"]["want"]["edges"]] == ["First"]


# --- writeReview / deleteReview -------------------------------------------------------------


async def test_write_review_creates_with_rating_and_spoiler(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    token, user_id = await quick_user(app)
    review = await write_review(gql, token, book, "  Loved it.  ", rating=5, spoiler=True)
    assert review["text"] == "Loved it."  # surrounding whitespace is trimmed
    assert review["rating"] == 5
    assert review["spoiler"] is True
    assert review["shelf"] == "READ"
    assert review["user"]["id"] == user_id
    doc = await app.services.store.reviews.find_one({"_id": oid_of(review["id"])})
    assert doc is not None
    assert (doc["text"], doc["has_text"], doc["rating"], doc["spoiler"]) == (
        "Loved it.",
        True,
        5,
        True,
    )

    listed = await gql.data(
        "query($b: ID!) { book(id: $b) { reviews { totalCount edges { node { id text } } } } }",
        {"b": gid("Book", book)},
    )
    assert listed["book"]["reviews"]["totalCount"] == 1
    assert listed["book"]["reviews"]["edges"][0]["node"]["id"] == review["id"]


async def test_write_review_without_rating_leaves_the_entry_unrated(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    token, _ = await quick_user(app)
    review = await write_review(gql, token, book, "No stars from me.")
    assert review["rating"] is None
    assert review["spoiler"] is False


async def test_write_review_replaces_the_text_of_the_same_entry(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    token, _ = await quick_user(app)
    rated = (await gql.data(RATE, {"b": gid("Book", book), "s": 3}, token))["rateBook"]
    first = await write_review(gql, token, book, "First take.", spoiler=True)
    assert first["id"] == rated["id"]
    assert first["rating"] == 3  # no rating given: the earlier one stays
    replaced = await write_review(gql, token, book, "Second take.", rating=4)
    assert replaced["id"] == first["id"]
    assert replaced["text"] == "Second take."
    assert replaced["rating"] == 4
    assert replaced["spoiler"] is False  # spoiler defaults to false on every write
    docs = await app.services.store.reviews.find({}).to_list(None)
    assert len(docs) == 1
    assert docs[0]["text"] == "Second take."


async def test_delete_review_removes_the_entry_its_likes_and_comments(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    store = app.services.store
    book = await insert_book(app)
    owner, _ = await quick_user(app)
    fan, _ = await quick_user(app)
    review = await write_review(gql, owner, book, "Worth reading.", rating=4)
    other = await write_review(gql, fan, book, "Me too.")
    await gql.data(LIKE, {"r": review["id"]}, fan)
    await gql.data(LIKE, {"r": other["id"]}, owner)
    await gql.data(COMMENT, {"r": review["id"], "t": "Agreed"}, fan)
    await gql.data(COMMENT, {"r": review["id"], "t": "Thanks"}, owner)
    await gql.data(COMMENT, {"r": other["id"], "t": "Nice"}, owner)

    result = await gql.data(DELETE_REVIEW, {"id": review["id"]}, owner)
    assert result["deleteReview"] is True
    gone = oid_of(review["id"])
    assert await store.reviews.find_one({"_id": gone}) is None
    assert await store.likes.count_documents({"review_id": gone}) == 0
    assert await store.comments.count_documents({"review_id": gone}) == 0
    # The other review and its edges are untouched.
    kept = oid_of(other["id"])
    assert await store.reviews.count_documents({}) == 1
    assert await store.likes.count_documents({"review_id": kept}) == 1
    assert await store.comments.count_documents({"review_id": kept}) == 1
    looked_up = await gql.data("query($id: ID!) { review(id: $id) { id } }", {"id": review["id"]})
    assert looked_up["review"] is None


async def test_delete_review_of_a_shelf_only_entry(app: AppUnderTest, gql: GraphQLClient) -> None:
    book = await insert_book(app)
    token, _ = await quick_user(app)
    entry = (await gql.data(SHELF, {"b": gid("Book", book), "s": "WANT_TO_READ"}, token))[
        "setShelf"
    ]
    assert (await gql.data(DELETE_REVIEW, {"id": entry["id"]}, token))["deleteReview"] is True
    assert await app.services.store.reviews.count_documents({}) == 0


# --- likeReview / unlikeReview ------------------------------------------------------------------


async def test_like_and_unlike_a_review(app: AppUnderTest, gql: GraphQLClient) -> None:
    store = app.services.store
    book = await insert_book(app)
    author, _ = await quick_user(app)
    fan, fan_id = await quick_user(app)
    review = await write_review(gql, author, book, "Read it twice.")

    liked = (await gql.data(LIKE, {"r": review["id"]}, fan))["likeReview"]
    assert liked["id"] == review["id"]
    assert liked["viewerHasLiked"] is True
    like = await store.likes.find_one({"review_id": oid_of(review["id"])})
    assert like is not None
    assert like["user_id"] == oid_of(fan_id)
    # The author has not liked it.
    seen_by_author = await gql.data(
        "query($id: ID!) { review(id: $id) { viewerHasLiked } }", {"id": review["id"]}, author
    )
    assert seen_by_author["review"]["viewerHasLiked"] is False

    unliked = (await gql.data(UNLIKE, {"r": review["id"]}, fan))["unlikeReview"]
    assert unliked["viewerHasLiked"] is False
    assert await store.likes.count_documents({}) == 0


async def test_a_user_may_like_their_own_review(app: AppUnderTest, gql: GraphQLClient) -> None:
    book = await insert_book(app)
    token, _ = await quick_user(app)
    review = await write_review(gql, token, book, "Mine.")
    assert (await gql.data(LIKE, {"r": review["id"]}, token))["likeReview"]["viewerHasLiked"]
    assert await app.services.store.likes.count_documents({}) == 1


# --- addComment / deleteComment --------------------------------------------------------------


async def test_add_and_delete_a_comment(app: AppUnderTest, gql: GraphQLClient) -> None:
    store = app.services.store
    book = await insert_book(app)
    author, _ = await quick_user(app)
    reader, reader_id = await quick_user(app)
    review = await write_review(gql, author, book, "Short and true.")

    comment = (await gql.data(COMMENT, {"r": review["id"], "t": " So true! "}, reader))[
        "addComment"
    ]
    assert comment["text"] == "So true!"
    assert comment["review"]["id"] == review["id"]
    assert comment["user"]["id"] == reader_id
    doc = await store.comments.find_one({"_id": oid_of(comment["id"])})
    assert doc is not None
    assert (doc["review_id"], doc["user_id"], doc["text"]) == (
        oid_of(review["id"]),
        oid_of(reader_id),
        "So true!",
    )
    listed = await gql.data(
        "query($id: ID!) { review(id: $id)"
        " { comments { totalCount edges { node { id text } } } } }",
        {"id": review["id"]},
    )
    assert listed["review"]["comments"]["totalCount"] == 1
    assert listed["review"]["comments"]["edges"][0]["node"]["id"] == comment["id"]

    assert (await gql.data(DELETE_COMMENT, {"id": comment["id"]}, reader))["deleteComment"] is True
    assert await store.comments.count_documents({}) == 0


# --- followUser / unfollowUser / followAuthor / unfollowAuthor --------------------------------


async def test_follow_and_unfollow_a_user(app: AppUnderTest, gql: GraphQLClient) -> None:
    store = app.services.store
    me, my_id = await quick_user(app)
    _, their_id = await quick_user(app, "followed_one")
    followed = (await gql.data(FOLLOW_USER, {"u": their_id}, me))["followUser"]
    assert followed["id"] == their_id
    assert followed["username"] == "followed_one"
    assert followed["viewerIsFollowing"] is True
    edge = await store.follows.find_one({})
    assert edge is not None
    assert (edge["follower_id"], edge["target_kind"], edge["target_id"]) == (
        oid_of(my_id),
        "user",
        oid_of(their_id),
    )
    unfollowed = (await gql.data(UNFOLLOW_USER, {"u": their_id}, me))["unfollowUser"]
    assert unfollowed["viewerIsFollowing"] is False
    assert await store.follows.count_documents({}) == 0


async def test_follow_and_unfollow_an_author(app: AppUnderTest, gql: GraphQLClient) -> None:
    store = app.services.store
    author = await insert_author(app, "Harriet Lerner")
    me, my_id = await quick_user(app)
    followed = (await gql.data(FOLLOW_AUTHOR, {"a": gid("Author", author)}, me))["followAuthor"]
    assert followed == {
        "id": gid("Author", author),
        "name": "Harriet Lerner",
        "viewerIsFollowing": True,
    }
    edge = await store.follows.find_one({})
    assert edge is not None
    assert (edge["follower_id"], edge["target_kind"], edge["target_id"]) == (
        oid_of(my_id),
        "author",
        author,
    )
    unfollowed = (await gql.data(UNFOLLOW_AUTHOR, {"a": gid("Author", author)}, me))[
        "unfollowAuthor"
    ]
    assert unfollowed["viewerIsFollowing"] is False
    assert await store.follows.count_documents({}) == 0


async def test_friends_reviews_show_reviews_of_followed_users(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    book = await insert_book(app)
    me, _ = await quick_user(app)
    friend, friend_id = await quick_user(app)
    stranger, _ = await quick_user(app)
    friend_review = await write_review(gql, friend, book, "From a friend.")
    await write_review(gql, stranger, book, "From a stranger.")
    await gql.data(FOLLOW_USER, {"u": friend_id}, me)
    data = await gql.data(
        "query($b: ID!) { book(id: $b) { friendsReviews { edges { node { id } } } } }",
        {"b": gid("Book", book)},
        me,
    )
    assert [e["node"]["id"] for e in data["book"]["friendsReviews"]["edges"]] == [
        friend_review["id"]
    ]


# --- idempotency -------------------------------------------------------------------------------


async def test_repeated_like_follow_and_shelf_changes_write_one_document(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    store = app.services.store
    book = await insert_book(app)
    author = await insert_author(app)
    writer, writer_id = await quick_user(app)
    me, _ = await quick_user(app)
    review = await write_review(gql, writer, book, "Liked twice, counted once.")

    for _ in range(3):
        assert (await gql.data(LIKE, {"r": review["id"]}, me))["likeReview"]["viewerHasLiked"]
        assert (await gql.data(FOLLOW_USER, {"u": writer_id}, me))["followUser"][
            "viewerIsFollowing"
        ]
        followed = await gql.data(FOLLOW_AUTHOR, {"a": gid("Author", author)}, me)
        assert followed["followAuthor"]["viewerIsFollowing"]
        shelved = await gql.data(SHELF, {"b": gid("Book", book), "s": "WANT_TO_READ"}, me)
        assert shelved["setShelf"]["shelf"] == "WANT_TO_READ"
    assert await store.likes.count_documents({}) == 1
    assert await store.follows.count_documents({"target_kind": "user"}) == 1
    assert await store.follows.count_documents({"target_kind": "author"}) == 1
    assert await store.reviews.count_documents({}) == 2  # the writer's and mine

    for _ in range(2):
        assert not (await gql.data(UNLIKE, {"r": review["id"]}, me))["unlikeReview"][
            "viewerHasLiked"
        ]
        unfollowed = await gql.data(UNFOLLOW_USER, {"u": writer_id}, me)
        assert not unfollowed["unfollowUser"]["viewerIsFollowing"]
        unfollowed = await gql.data(UNFOLLOW_AUTHOR, {"a": gid("Author", author)}, me)
        assert not unfollowed["unfollowAuthor"]["viewerIsFollowing"]
        assert (await gql.data(SHELF, {"b": gid("Book", book), "s": None}, me))["setShelf"] is None
    assert await store.likes.count_documents({}) == 0
    assert await store.follows.count_documents({}) == 0
    assert await store.reviews.count_documents({}) == 1
