"""User: profile, figures, the viewer's follow and the user's shelves."""

from typing import ClassVar

import strawberry

from schema.context import Info
from schema.payload_figures import ComputedFields, computed_nodes, stored_as
from schema.types.connections import Connection, ReviewConnection
from schema.types.enums import Shelf
from schema.types.node import Node
from service import validation
from service.ids import to_global_id
from service.mongo import Document
from service.repositories import entries, figures


@strawberry.type(name="User")
class User(Node):
    username: str
    display_name: str
    avatar_url: str | None
    bio: str | None
    reviews_count: int
    followers_count: int
    following_count: int
    authored_books_count: int
    doc: strawberry.Private[Document]
    COMPUTED: ClassVar[ComputedFields] = stored_as(
        reviews_count=figures.user_reviews,
        followers_count=figures.user_followers,
        following_count=figures.user_following,
    )

    @classmethod
    def of(cls, doc: Document) -> "User":
        return cls(
            id=strawberry.ID(to_global_id("User", doc["_id"])),
            username=doc["username"],
            display_name=doc.get("display_name") or doc["username"],
            avatar_url=doc.get("avatar_url"),
            bio=doc.get("bio"),
            reviews_count=doc.get("reviews_count", 0),
            followers_count=doc.get("followers_count", 0),
            following_count=doc.get("following_count", 0),
            authored_books_count=doc.get("authored_books_count", 0),
            doc=doc,
        )

    @strawberry.field
    async def viewer_is_following(self, info: Info) -> bool:
        if info.context.viewer_id is None:
            return False
        return await info.context.loaders.viewer_follows_user.load(self.doc["_id"])

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
