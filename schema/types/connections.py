"""Relay connections. totalCount is counted only when a query selects it."""

from collections.abc import Awaitable, Callable, Iterable
from itertools import starmap
from typing import TYPE_CHECKING, Annotated, Any, Protocol, Self

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


class _Counted(Protocol):
    counter: Counter


async def _total_count(root: _Counted) -> int:
    return await root.counter()


def _connection[C](
    cls: Callable[..., C],
    edge: Callable[..., Any],
    page: Page,
    counter: Counter,
    nodes: Iterable[Any],
) -> C:
    """A connection of `cls` over the page: one `edge` per document with its node from `nodes`
    (in the page's order), the page info, and the totalCount counter."""
    cursor_of = page.ordering.cursor_of
    edges = [edge(cursor=cursor_of(d), node=n) for d, n in zip(page.docs, nodes, strict=True)]
    return cls(edges=edges, page_info=page_info(page), counter=counter)


@strawberry.type(name="BookEdge")
class BookEdge:
    cursor: str
    node: Annotated["Book", strawberry.lazy("schema.types.book")]


@strawberry.type(name="BookConnection")
class BookConnection:
    edges: list[BookEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]
    total_count: int = strawberry.field(resolver=_total_count)

    @classmethod
    def of(cls, page: Page, counter: Counter) -> Self:
        from schema.types.book import Book

        return _connection(cls, BookEdge, page, counter, map(Book.of, page.docs))


@strawberry.type(name="ReviewEdge")
class ReviewEdge:
    cursor: str
    node: Annotated["Review", strawberry.lazy("schema.types.review")]


@strawberry.type(name="ReviewConnection")
class ReviewConnection:
    edges: list[ReviewEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]
    total_count: int = strawberry.field(resolver=_total_count)

    @classmethod
    def of(cls, page: Page, counter: Counter, users: list[Document | None] | None = None) -> Self:
        from schema.types.review import Review

        nodes: Iterable[Review]
        if users is None:
            nodes = map(Review.of, page.docs)
        else:
            nodes = starmap(Review.of, zip(page.docs, users, strict=True))
        return _connection(cls, ReviewEdge, page, counter, nodes)


@strawberry.type(name="CommentEdge")
class CommentEdge:
    cursor: str
    node: Annotated["Comment", strawberry.lazy("schema.types.comment")]


@strawberry.type(name="CommentConnection")
class CommentConnection:
    edges: list[CommentEdge]
    page_info: PageInfo
    counter: strawberry.Private[Counter]
    total_count: int = strawberry.field(resolver=_total_count)

    @classmethod
    def of(cls, page: Page, counter: Counter) -> Self:
        from schema.types.comment import Comment

        return _connection(cls, CommentEdge, page, counter, map(Comment.of, page.docs))


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
