"""Shapes of the stored documents (field names as stored). Aggregate fields are written only
by the worker and the reconciler; everything else is source data written by mutations."""

from datetime import datetime
from typing import Literal, NotRequired, TypedDict

from bson import ObjectId

ShelfValue = Literal["WANT_TO_READ", "CURRENTLY_READING", "READ"]
SHELVES: tuple[ShelfValue, ...] = ("WANT_TO_READ", "CURRENTLY_READING", "READ")


class RatingStatsDoc(TypedDict):
    counts: list[int]  # counts[0] is 1 star ... counts[4] is 5 stars
    count: int
    sum: int
    updated_at: datetime | None


class ShelfCountsDoc(TypedDict):
    want_to_read: int
    currently_reading: int
    read: int


class BookDoc(TypedDict):
    _id: ObjectId
    title: str
    subtitle: NotRequired[str | None]
    description: NotRequired[str | None]
    page_count: NotRequired[int | None]
    format: NotRequired[str | None]
    isbn13: NotRequired[str | None]
    first_published: NotRequired[str | None]  # ISO date "1989-01-01"
    cover_url: NotRequired[str | None]
    genres: list[str]
    author_ids: list[ObjectId]
    # aggregates
    rating_stats: RatingStatsDoc
    shelf_counts: ShelfCountsDoc
    reviews_count: int


class AuthorDoc(TypedDict):
    _id: ObjectId
    name: str
    bio: NotRequired[str | None]
    photo_url: NotRequired[str | None]
    # aggregates
    books_count: int
    followers_count: int


class UserDoc(TypedDict):
    _id: ObjectId
    username: str
    username_key: str  # lower-cased username, unique
    display_name: str
    password_hash: str | None  # None for demo users who cannot log in
    avatar_url: NotRequired[str | None]
    bio: NotRequired[str | None]
    authored_books_count: int  # the "Author N books" badge (source data)
    created_at: datetime
    # aggregates
    reviews_count: int
    followers_count: int
    following_count: int


class ReviewDoc(TypedDict):
    """A user's entry for one book: any mix of shelf, rating and text."""

    _id: ObjectId
    user_id: ObjectId
    book_id: ObjectId
    shelf: ShelfValue | None
    rating: int | None
    text: str | None
    has_text: bool
    spoiler: bool
    created_at: datetime
    updated_at: datetime
    # aggregates
    likes_count: int
    comments_count: int


class LikeDoc(TypedDict):
    _id: ObjectId
    user_id: ObjectId
    review_id: ObjectId
    created_at: datetime


class CommentDoc(TypedDict):
    _id: ObjectId
    review_id: ObjectId
    user_id: ObjectId
    text: str
    created_at: datetime


class FollowDoc(TypedDict):
    _id: ObjectId
    follower_id: ObjectId
    target_kind: Literal["user", "author"]
    target_id: ObjectId
    created_at: datetime


def empty_rating_stats() -> RatingStatsDoc:
    return {"counts": [0, 0, 0, 0, 0], "count": 0, "sum": 0, "updated_at": None}


def empty_shelf_counts() -> ShelfCountsDoc:
    return {"want_to_read": 0, "currently_reading": 0, "read": 0}


def new_entry(
    user_id: ObjectId,
    book_id: ObjectId,
    created_at: datetime,
    *,
    shelf: ShelfValue | None = "READ",
    rating: int | None = None,
    text: str | None = None,
    likes_count: int = 0,
) -> ReviewDoc:
    """A user's entry for a book as first written (a review when it has a text), for loaders
    that insert documents directly (the demo, the benchmark, tests)."""
    return {
        "_id": ObjectId(),
        "user_id": user_id,
        "book_id": book_id,
        "shelf": shelf,
        "rating": rating,
        "text": text or None,
        "has_text": bool(text),
        "spoiler": False,
        "created_at": created_at,
        "updated_at": created_at,
        "likes_count": likes_count,
        "comments_count": 0,
    }
