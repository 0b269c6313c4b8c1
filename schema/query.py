"""Query root."""

from typing import Any

import strawberry

from schema.context import Info
from schema.types.author import Author
from schema.types.book import Book
from schema.types.comment import Comment
from schema.types.connections import BookConnection, Connection
from schema.types.node import Node
from schema.types.review import Review
from schema.types.user import User
from service import validation
from service.ids import from_global_id, parse_global_id
from service.repositories import books, users

NODE_TYPES: dict[str, Any] = {
    "Book": Book,
    "Author": Author,
    "User": User,
    "Review": Review,
    "Comment": Comment,
}


@strawberry.type(name="Query")
class Query:
    @strawberry.field
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, oid = parse_global_id(id)
        loader = getattr(info.context.loaders, type_name.lower())
        doc = await loader.load(oid)
        return NODE_TYPES[type_name].of(doc) if doc else None

    @strawberry.field
    async def book(self, info: Info, id: strawberry.ID) -> Book | None:
        doc = await info.context.loaders.book.load(from_global_id(id, "Book", "id"))
        return Book.of(doc) if doc else None

    @strawberry.field
    async def books(
        self,
        info: Info,
        search: str | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> BookConnection:
        store = info.context.services.store
        page_size = validation.page_size(first)
        page = await books.search(store, validation.search(search), page_size, after)
        return Connection.of(page, map(Book.of, page.docs))

    @strawberry.field
    async def author(self, info: Info, id: strawberry.ID) -> Author | None:
        doc = await info.context.loaders.author.load(from_global_id(id, "Author", "id"))
        return Author.of(doc) if doc else None

    @strawberry.field
    async def user(self, info: Info, username: str) -> User | None:
        if len(username) > 100:
            return None
        doc = await users.by_username(info.context.services.store, username)
        return User.of(doc) if doc else None

    @strawberry.field
    async def review(self, info: Info, id: strawberry.ID) -> Review | None:
        doc = await info.context.loaders.review.load(from_global_id(id, "Review", "id"))
        return Review.of(doc) if doc else None

    @strawberry.field
    async def viewer(self, info: Info) -> User | None:
        viewer = info.context.viewer_id
        if viewer is None:
            return None
        doc = await info.context.loaders.user.load(viewer)
        return User.of(doc) if doc else None
