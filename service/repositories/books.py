"""Books: lookups, search and an author's list."""

from bson import ObjectId

from service.errors import NotFound
from service.mongo import Document, Store
from service.pagination import Ordering, Page, fetch_page
from service.repositories.common import exists

BY_ID = Ordering("books:id", (("_id", 1),))


async def require(store: Store, book_id: ObjectId) -> None:
    if not await exists(store.books, book_id):
        raise NotFound("no book has this id", field="bookId")


def search_query(search: str | None) -> Document:
    return {"$text": {"$search": search}} if search else {}


async def search(store: Store, search: str | None, first: int, after: str | None) -> Page:
    return await fetch_page(store.books, search_query(search), BY_ID, first, after)


def by_author_query(author_id: ObjectId) -> Document:
    return {"author_ids": author_id}


async def by_author(store: Store, author_id: ObjectId, first: int, after: str | None) -> Page:
    return await fetch_page(store.books, by_author_query(author_id), BY_ID, first, after)
