"""Relay connections. totalCount is counted only when a query selects it."""

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.types.node import PageInfo
from service.mongo import Document
from service.pagination import Page

if TYPE_CHECKING:
    from schema.types.book import Book
    from schema.types.comment import Comment
    from schema.types.review import Review

Counter = Callable[[], Awaitable[int]]


def page_info(page: Page) -> PageInfo:
    docs = page.docs
    return PageInfo(
        has_next_page=page.has_next,
        has_previous_page=page.has_previous,
        start_cursor=page.ordering.cursor_of(docs[0]) if docs else None,
        end_cursor=page.ordering.cursor_of(docs[-1]) if docs else None,
    )


@strawberry.type(name="BookEdge")
class BookEdge:
    cursor: str
    node: Annotated["Book", strawberry.lazy("schema.types.book")]


@strawberry.type(name="BookConnection")
class BookConnection:
    edges: list[BookEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.counter()

    @classmethod
    def of(cls, page: Page, counter: Counter) -> "BookConnection":
        from schema.types.book import Book

        edges = [BookEdge(cursor=page.ordering.cursor_of(d), node=Book.of(d)) for d in page.docs]
        return cls(edges=edges, page_info=page_info(page), counter=counter)


@strawberry.type(name="ReviewEdge")
class ReviewEdge:
    cursor: str
    node: Annotated["Review", strawberry.lazy("schema.types.review")]


@strawberry.type(name="ReviewConnection")
class ReviewConnection:
    edges: list[ReviewEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.counter()

    @classmethod
    def of(
        cls, page: Page, counter: Counter, users: list[Document | None] | None = None
    ) -> "ReviewConnection":
        from schema.types.review import Review

        reviewers = users if users is not None else [None] * len(page.docs)
        edges = [
            ReviewEdge(cursor=page.ordering.cursor_of(d), node=Review.of(d, u))
            for d, u in zip(page.docs, reviewers, strict=True)
        ]
        return cls(edges=edges, page_info=page_info(page), counter=counter)


@strawberry.type(name="CommentEdge")
class CommentEdge:
    cursor: str
    node: Annotated["Comment", strawberry.lazy("schema.types.comment")]


@strawberry.type(name="CommentConnection")
class CommentConnection:
    edges: list[CommentEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.counter()

    @classmethod
    def of(cls, page: Page, counter: Counter) -> "CommentConnection":
        from schema.types.comment import Comment

        edges = [
            CommentEdge(cursor=page.ordering.cursor_of(d), node=Comment.of(d)) for d in page.docs
        ]
        return cls(edges=edges, page_info=page_info(page), counter=counter)


def empty_page_counter() -> Counter:
    async def zero() -> int:
        return 0

    return zero


def count_of(collection, query: Document) -> Counter:
    async def count() -> int:
        if "$text" in query:
            # count_documents runs an aggregate, where the embedded MongoDB (mongoeco) refuses
            # $text; the count command takes it there and on MongoDB alike.
            reply = await collection.database.command("count", collection.name, query=query)
            return int(reply["n"])
        return int(await collection.count_documents(query))

    return count
