"""User: profile, figures, the viewer's follow and the user's shelves; its fields are read off
the user's document when selected (schema.document_fields)."""

from typing import ClassVar

import strawberry

from schema.context import Info
from schema.document_fields import DocumentFigures, document_field, require
from schema.payload_figures import ComputedFields, computed, computed_nodes, stored_as
from schema.types.connections import Connection, ReviewConnection
from schema.types.enums import Shelf
from schema.types.node import Node
from service import validation
from service.ids import to_global_id
from service.mongo import Document
from service.repositories import entries, figures, users


@strawberry.type(name="User")
class User(DocumentFigures, Node):
    doc: strawberry.Private[Document]
    id: strawberry.ID = document_field(value=lambda doc: to_global_id("User", doc["_id"]))
    username: str = document_field(value=lambda doc: doc["username"])
    display_name: str = document_field(value=lambda doc: doc.get("display_name") or doc["username"])
    avatar_url: str | None = document_field("avatar_url")
    bio: str | None = document_field("bio")
    reviews_count: int = document_field("reviews_count", 0)
    followers_count: int = document_field("followers_count", 0)
    following_count: int = document_field("following_count", 0)
    authored_books_count: int = document_field("authored_books_count", 0)
    COMPUTED: ClassVar[ComputedFields] = stored_as(
        reviews_count=figures.user_reviews,
        followers_count=figures.user_followers,
        following_count=figures.user_following,
    )

    @classmethod
    def of(cls, doc: Document) -> "User":
        require(doc, "_id", "username")
        return cls(doc=doc)

    @classmethod
    def reader(cls, info: Info, doc: Document | None) -> "User":
        """The user who wrote a review or comment: the deleted-reader placeholder when their
        document is gone (its figures are zero, not computed, in a mutation's payload too)."""
        if doc is None:
            return cls.of(users.deleted_reader())
        return computed(info, cls.of(doc))

    @strawberry.field
    def viewer_is_following(self, info: Info) -> bool:
        # As Review.viewer_has_liked: False at once when anonymous, else the loader's future.
        if info.context.viewer_id is None:
            return False
        following = info.context.loaders.viewer_follows_user.load(self.doc["_id"])
        return following  # type: ignore[return-value]

    @strawberry.field
    async def reviews(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        shelf: Shelf | None = None,
    ) -> ReviewConnection:
        from schema.types.review import Review

        store = info.context.services.store
        page_size = validation.page_size(first)
        page = await entries.user_entries(store, self.doc["_id"], shelf, page_size, after)
        return computed_nodes(info, Connection.of(page, map(Review.of, page.docs)))
