"""Subscription root: live book figures pushed after the worker recomputes them."""

from collections.abc import AsyncGenerator

import strawberry

from schema.context import Info
from schema.loaders import Loaders
from schema.types.book import Book
from service.errors import NotFound
from service.ids import from_global_id


@strawberry.type(name="Subscription")
class Subscription:
    @strawberry.subscription
    async def book_stats_changed(self, info: Info, book_id: strawberry.ID) -> AsyncGenerator[Book]:
        oid = from_global_id(book_id, "Book", "bookId")
        services = info.context.services
        if await services.store.books.find_one({"_id": oid}, {"_id": 1}) is None:
            raise NotFound("no book has this id", field="bookId")
        async with services.stats_hub.subscribe(str(oid)) as changes:
            while True:
                await changes.get()
                while not changes.empty():  # notices that piled up: one read serves them all
                    changes.get_nowait()
                doc = await services.store.books.find_one({"_id": oid})
                if doc is not None:
                    # A WebSocket connection has one context for its lifetime: fresh loaders,
                    # or each push would show the authors (and so on) cached at the first one.
                    info.context.loaders = Loaders(services.store, info.context.viewer_id)
                    yield Book.of(doc)
