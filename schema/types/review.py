"""Review: a user's entry for a book, with its likes and comments."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, ClassVar, Optional

import strawberry

from schema.context import Info
from schema.execution import PREFETCHED
from schema.payload_figures import ComputedFields, computed, stored_as
from schema.types.connections import CommentConnection, Connection
from schema.types.enums import Shelf
from schema.types.node import Node
from service import validation
from service.errors import NotFound
from service.ids import to_global_id
from service.mongo import Document
from service.repositories import figures, social

if TYPE_CHECKING:
    from schema.types.book import Book
    from schema.types.user import User


@strawberry.type(name="Review")
class Review(Node):
    shelf: Shelf | None
    rating: int | None
    text: str | None
    spoiler: bool
    created_at: datetime
    updated_at: datetime
    likes_count: int
    comments_count: int
    doc: strawberry.Private[Document]
    # The reviewer, when the list that holds this review fetched it beforehand (Book.reviews
    # does, for the whole page): `user` then needs no loader, and the planned execution
    # (schema.execution, PREFETCHED) reads it without calling the resolver.
    prefetched_user: strawberry.Private[Optional["User"]] = None
    COMPUTED: ClassVar[ComputedFields] = stored_as(
        likes_count=figures.review_likes, comments_count=figures.review_comments
    )

    @classmethod
    def of(cls, doc: Document, user_doc: Document | None = None) -> "Review":
        from schema.types.user import User

        shelf = doc.get("shelf")
        return cls(
            id=strawberry.ID(to_global_id("Review", doc["_id"])),
            shelf=Shelf(shelf) if shelf else None,
            rating=doc.get("rating"),
            text=doc.get("text"),
            spoiler=bool(doc.get("spoiler")),
            created_at=doc["created_at"],
            updated_at=doc.get("updated_at") or doc["created_at"],
            likes_count=doc.get("likes_count", 0),
            comments_count=doc.get("comments_count", 0),
            doc=doc,
            prefetched_user=User.of(user_doc) if user_doc is not None else None,
        )

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
        from schema.types.user import User

        doc = await info.context.loaders.user.load(self.doc["user_id"])
        if doc is None:
            raise NotFound("this review's user no longer exists")
        return computed(info, User.of(doc))

    @strawberry.field
    async def viewer_has_liked(self, info: Info) -> bool:
        if info.context.viewer_id is None:
            return False
        return await info.context.loaders.viewer_liked.load(self.doc["_id"])

    @strawberry.field
    async def comments(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> CommentConnection:
        from schema.types.comment import Comment

        store = info.context.services.store
        page_size = validation.page_size(first)
        page = await social.comments_of(store, self.doc["_id"], page_size, after)
        return Connection.of(page, map(Comment.of, page.docs))
