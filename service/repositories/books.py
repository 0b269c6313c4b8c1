"""Books: lookups, search and an author's list."""

from bson import ObjectId

from service.errors import NotFound
from service.mongo import Document, Store
from service.pagination import Ordering, Page, fetch_page
from service.repositories.common import exists

BY_ID = Ordering("books:id", (("_id", 1),))


async def require(store: Store, book_id: ObjectId, field: str = "bookId") -> None:
    if not await exists(store.books, book_id):
        raise NotFound("no book has this id", field=field)


async def search(store: Store, search: str | None, first: int, after: str | None) -> Page:
    query: Document = {"$text": {"$search": search}} if search else {}
    return await fetch_page(store.books, query, BY_ID, first, after)


async def by_author(store: Store, author_id: ObjectId, first: int, after: str | None) -> Page:
    return await fetch_page(store.books, {"author_ids": author_id}, BY_ID, first, after)
