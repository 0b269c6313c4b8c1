"""Author: bio, figures, the viewer's follow and the author's books."""

from typing import ClassVar

import strawberry

from schema.context import Info
from schema.document_fields import AttributeFigures
from schema.payload_figures import ComputedFields, computed_nodes, stored_as
from schema.types.connections import BookConnection, Connection
from schema.types.node import Node
from service import validation
from service.ids import to_global_id
from service.mongo import Document
from service.repositories import books, figures


@strawberry.type(name="Author")
class Author(AttributeFigures, Node):
    name: str
    bio: str | None
    photo_url: str | None
    books_count: int
    followers_count: int
    doc: strawberry.Private[Document]
    COMPUTED: ClassVar[ComputedFields] = stored_as(
        followers_count=figures.author_followers, books_count=figures.author_books
    )

    @classmethod
    def of(cls, doc: Document) -> "Author":
        return cls(
            id=strawberry.ID(to_global_id("Author", doc["_id"])),
            name=doc["name"],
            bio=doc.get("bio"),
            photo_url=doc.get("photo_url"),
            books_count=doc.get("books_count", 0),
            followers_count=doc.get("followers_count", 0),
            doc=doc,
        )

    @strawberry.field
    def viewer_is_following(self, info: Info) -> bool:
        # As Review.viewer_has_liked: False at once when anonymous, else the loader's future.
        if info.context.viewer_id is None:
            return False
        following = info.context.loaders.viewer_follows_author.load(self.doc["_id"])
        return following  # type: ignore[return-value]

    @strawberry.field
    async def books(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> BookConnection:
        from schema.types.book import Book

        store = info.context.services.store
        page_size = validation.page_size(first)
        page = await books.by_author(store, self.doc["_id"], page_size, after)
        return computed_nodes(info, Connection.of(page, map(Book.of, page.docs)))
