"""Shapes of the stored documents (field names as stored). Aggregate fields are written only
by the worker and the reconciler; everything else is source data written by mutations."""

from datetime import datetime
from enum import StrEnum
from typing import NotRequired, TypedDict

from bson import ObjectId


class Shelf(StrEnum):
    """A shelf, as stored on an entry (and named in the contract's `Shelf` enum)."""

    WANT_TO_READ = "WANT_TO_READ"
    CURRENTLY_READING = "CURRENTLY_READING"
    READ = "READ"

    @property
    def counts_field(self) -> str:
        """The book's `shelf_counts` field that counts this shelf."""
        return self.value.lower()


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
    display_key: NotRequired[str]  # validation.name_key(display_name); absent on older users
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
    shelf: Shelf | None
    rating: int | None
    text: str | None
    has_text: bool
    spoiler: bool
    created_at: datetime
    updated_at: datetime
    # aggregates
    likes_count: int
    comments_count: int


def empty_rating_stats() -> RatingStatsDoc:
    return {"counts": [0, 0, 0, 0, 0], "count": 0, "sum": 0, "updated_at": None}


def empty_shelf_counts() -> ShelfCountsDoc:
    return {"want_to_read": 0, "currently_reading": 0, "read": 0}


def new_entry_fields(created_at: datetime) -> dict[str, object]:
    """What a new entry holds before its first change is applied: no rating, no text, on the
    READ shelf (rating or reviewing a book means it was read), no likes or comments yet."""
    return {
        "shelf": Shelf.READ,
        "rating": None,
        "text": None,
        "has_text": False,
        "spoiler": False,
        "created_at": created_at,
        "updated_at": created_at,
        "likes_count": 0,
        "comments_count": 0,
    }


def new_entry(
    user_id: ObjectId,
    book_id: ObjectId,
    created_at: datetime,
    *,
    shelf: Shelf | None = Shelf.READ,
    rating: int | None = None,
    text: str | None = None,
    likes_count: int = 0,
) -> ReviewDoc:
    """A user's entry for a book as first written (a review when it has a text), for loaders
    that insert documents directly (the demo, the benchmark, tests)."""
    entry = {
        **new_entry_fields(created_at),
        "_id": ObjectId(),
        "user_id": user_id,
        "book_id": book_id,
        "shelf": shelf,
        "rating": rating,
        "text": text or None,
        "has_text": bool(text),
        "likes_count": likes_count,
    }
    return entry  # type: ignore[return-value]
