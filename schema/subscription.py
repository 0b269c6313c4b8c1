"""Subscription root: live book figures pushed after the worker recomputes them."""

from collections.abc import AsyncGenerator

import strawberry

from schema.context import Info
from schema.types.book import Book
from service.ids import from_global_id
from service.repositories import books


@strawberry.type(name="Subscription")
class Subscription:
    @strawberry.subscription
    async def book_stats_changed(self, info: Info, book_id: strawberry.ID) -> AsyncGenerator[Book]:
        oid = from_global_id(book_id, "Book", "bookId")
        context = info.context
        await books.require(context.services.store, oid, field="bookId")
        async with context.services.stats_hub.subscribe(str(oid)) as changes:
            while True:
                await changes.get()
                while not changes.empty():  # notices that piled up: one read serves them all
                    changes.get_nowait()
                context.renew_loaders()
                doc = await context.loaders.book.load(oid)
                if doc is not None:
                    yield Book.of(doc)
