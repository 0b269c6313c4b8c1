"""Source documents inserted directly, shaped as service/documents.py, for what the API has no
mutation for (books, authors) or where a mutation would be slow or beside the point (users
without an argon2 hash); and the global ids that name them."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from bson import ObjectId

from service import auth
from service.documents import BookDoc, empty_rating_stats, empty_shelf_counts, new_entry
from service.ids import parse_global_id, to_global_id
from service.repositories import users
from tests.support.app import AppUnderTest
from workers.reconcile import reconcile


def gid(type_name: str, oid: ObjectId | str) -> str:
    return to_global_id(type_name, ObjectId(oid))


def oid_of(global_id: str) -> ObjectId:
    """The ObjectId inside one of our global ids."""
    return parse_global_id(global_id)[1]


async def insert_author(app: AppUnderTest, name: str = "Ann Author") -> ObjectId:
    oid = ObjectId()
    await app.services.store.authors.insert_one(
        {
            "_id": oid,
            "name": name,
            "bio": None,
            "photo_url": None,
            "books_count": 0,
            "followers_count": 0,
        }
    )
    return oid


async def insert_book(
    app: AppUnderTest, title: str = "A Book", author_ids: list[ObjectId] | None = None
) -> ObjectId:
    oid = ObjectId()
    book: BookDoc = {
        "_id": oid,
        "title": title,
        "subtitle": None,
        "description": None,
        "page_count": 100,
        "format": "Paperback",
        "isbn13": None,
        "first_published": "2001-02-03",
        "cover_url": None,
        "genres": [],
        "author_ids": author_ids or [],
        "rating_stats": empty_rating_stats(),
        "shelf_counts": empty_shelf_counts(),
        "reviews_count": 0,
    }
    await app.services.store.books.insert_one(book)  # type: ignore[arg-type]
    return oid


async def quick_user(app: AppUnderTest, username: str | None = None) -> tuple[str, str]:
    """A user inserted directly with a token of the app's own key: (token, global id).

    Faster than signUp (no argon2 hash); for tests whose subject is not signing up.
    """
    doc = users.new_user(username or f"q{uuid4().hex[:10]}", "Quick User", None)
    await app.services.store.users.insert_one(doc)  # type: ignore[arg-type]
    token = auth.issue_token(doc["_id"], app.services.jwt_secret, 3600)
    return token, gid("User", doc["_id"])


def user_doc(username: str, created_at: datetime, **fields: Any) -> dict[str, Any]:
    """A user with no password (who cannot log in); `fields` replace the defaults."""
    return {
        "_id": ObjectId(),
        "username": username,
        "username_key": username.lower(),
        "display_name": username,
        "password_hash": None,
        "avatar_url": None,
        "bio": None,
        "authored_books_count": 0,
        "created_at": created_at,
        "reviews_count": 0,
        "followers_count": 0,
        "following_count": 0,
        **fields,
    }


def review_doc(
    user_id: ObjectId,
    book_id: ObjectId,
    created_at: datetime,
    *,
    text: str | None = None,
    rating: int | None = None,
    shelf: str | None = "READ",
    likes_count: int = 0,
) -> dict[str, Any]:
    """A user's entry for a book (a review when it has a text), as first written."""
    return dict(
        new_entry(
            user_id,
            book_id,
            created_at,
            shelf=shelf,  # type: ignore[arg-type]
            rating=rating,
            text=text,
            likes_count=likes_count,
        )
    )


@dataclass
class Catalog:
    """Source documents the API has no mutation for: authors and books."""

    authors: list[ObjectId]
    books: list[ObjectId]

    def book(self, i: int) -> str:
        return to_global_id("Book", self.books[i])

    def author(self, i: int) -> str:
        return to_global_id("Author", self.authors[i])


async def seed_catalog(app: AppUnderTest) -> Catalog:
    """Two authors, two books (the second by both authors), aggregates reconciled."""
    store = app.services.store
    authors = [ObjectId(), ObjectId()]
    books = [ObjectId(), ObjectId()]
    await store.authors.insert_many(
        [
            {"_id": a, "name": f"Author {i}", "bio": None, "photo_url": None}
            | {"books_count": 0, "followers_count": 0}
            for i, a in enumerate(authors)
        ]
    )
    await store.books.insert_many(
        [
            {
                "_id": b,
                "title": f"Book {i}",
                "genres": [],
                "author_ids": authors[: i + 1],
                "rating_stats": empty_rating_stats(),
                "shelf_counts": empty_shelf_counts(),
                "reviews_count": 0,
            }
            for i, b in enumerate(books)
        ]
    )
    await reconcile(store, fix=True)  # authors' booksCount comes from the catalog
    return Catalog(authors, books)
