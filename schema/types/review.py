"""Review: a user's entry for a book, with its likes and comments; its fields are read off the
entry's document when selected (schema.document_fields)."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, ClassVar

import strawberry

from schema.context import Info
from schema.document_fields import DocumentFigures, document_field, require
from schema.execution import PREFETCHED
from schema.payload_figures import ComputedFields, computed, stored_as
from schema.types.connections import CommentConnection, Connection
from schema.types.enums import Shelf
from schema.types.node import Node
from schema.types.user import User
from service import validation
from service.errors import NotFound
from service.ids import to_global_id
from service.mongo import Document
from service.repositories import figures, social

if TYPE_CHECKING:
    from schema.types.book import Book


SHELVES = frozenset(shelf.value for shelf in Shelf)


def _shelf(doc: Document) -> Shelf | None:
    shelf = doc.get("shelf")
    return Shelf(shelf) if shelf else None


@strawberry.type(name="Review")
class Review(DocumentFigures, Node):
    doc: strawberry.Private[Document]
    # The reviewer, when the list that holds this review fetched it beforehand (Book.reviews
    # does, for the whole page): `user` then needs no loader, and the planned execution
    # (schema.execution, PREFETCHED) reads it without calling the resolver.
    prefetched_user: strawberry.Private[User | None] = None
    id: strawberry.ID = document_field(value=lambda doc: to_global_id("Review", doc["_id"]))
    shelf: Shelf | None = document_field(value=_shelf)
    rating: int | None = document_field("rating")
    text: str | None = document_field("text")
    spoiler: bool = document_field(value=lambda doc: bool(doc.get("spoiler")))
    created_at: datetime = document_field(value=lambda doc: doc["created_at"])
    updated_at: datetime = document_field(
        value=lambda doc: doc.get("updated_at") or doc["created_at"]
    )
    likes_count: int = document_field("likes_count", 0)
    comments_count: int = document_field("comments_count", 0)
    COMPUTED: ClassVar[ComputedFields] = stored_as(
        likes_count=figures.review_likes, comments_count=figures.review_comments
    )

    @classmethod
    def of(cls, doc: Document, user_doc: Document | None = None) -> "Review":
        # What building every field used to fail on fails here, in the same order.
        require(doc, "_id")
        shelf = doc.get("shelf")
        if shelf and shelf not in SHELVES:
            Shelf(shelf)  # ValueError: an unknown shelf
        require(doc, "created_at")
        reviewer = User.of(user_doc) if user_doc is not None else None
        return cls(doc=doc, prefetched_user=reviewer)

    @strawberry.field
    async def book(self, info: Info) -> Annotated["Book", strawberry.lazy("schema.types.book")]:
        from schema.types.book import Book

        doc = await info.context.loaders.book.load(self.doc["book_id"])
        if doc is None:
            raise NotFound("this review's book no longer exists")
        return computed(info, Book.of(doc))

    @strawberry.field(metadata={PREFETCHED: "prefetched_user"})
    def user(self, info: Info) -> Annotated["User", strawberry.lazy("schema.types.user")]:
        # Synchronous when the user was fetched with the page (no coroutine, no task per
        # review); otherwise an awaitable that graphql-core awaits (batched by the loader).
        if self.prefetched_user is not None:
            return self.prefetched_user
        return self._load_user(info)  # type: ignore[return-value]

    async def _load_user(self, info: Info) -> "User":
        return User.reader(info, await info.context.loaders.user.load(self.doc["user_id"]))

    @strawberry.field
    def viewer_has_liked(self, info: Info) -> bool:
        # False at once for an anonymous request, else the loader's future (batched with the
        # page's other reviews), which graphql-core awaits: no coroutine per review.
        if info.context.viewer_id is None:
            return False
        return info.context.loaders.viewer_liked.load(self.doc["_id"])  # type: ignore[return-value]

    @strawberry.field
    async def comments(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> CommentConnection:
        from schema.types.comment import Comment

        store = info.context.services.store
        page_size = validation.page_size(first)
        page = await social.comments_of(store, self.doc["_id"], page_size, after)
        return Connection.of(page, map(Comment.of, page.docs))
