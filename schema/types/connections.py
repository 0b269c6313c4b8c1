"""Relay connections: one generic connection and edge for every list (Strawberry names
`Connection[Book]` "BookConnection" and `Edge[Book]` "BookEdge", as the contract does).

The repository's page knows its own filter, so `totalCount` is counted only when a query
selects it, with one command."""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.types.node import PageInfo
from service.pagination import Page

if TYPE_CHECKING:
    from schema.types.book import Book
    from schema.types.comment import Comment
    from schema.types.review import Review


@strawberry.type
class Edge[T]:
    cursor: str
    node: T


@strawberry.type
class Connection[T]:
    edges: list[Edge[T]]
    page_info: PageInfo
    page: strawberry.Private[Page]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.page.total_count()

    @classmethod
    def of(cls, page: Page, nodes: Iterable[T]) -> "Connection[T]":
        """The page's documents as edges, each with its node from `nodes` (in page order)."""
        cursor_of = page.ordering.cursor_of
        docs = page.docs
        edges = [Edge(cursor=cursor_of(d), node=n) for d, n in zip(docs, nodes, strict=True)]
        info = PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        )
        return cls(edges=edges, page_info=info, page=page)


BookConnection = Connection[Annotated["Book", strawberry.lazy("schema.types.book")]]
CommentConnection = Connection[Annotated["Comment", strawberry.lazy("schema.types.comment")]]
ReviewConnection = Connection[Annotated["Review", strawberry.lazy("schema.types.review")]]
