"""Comment on a review."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.context import Info
from schema.payload_figures import computed
from schema.types.node import Node
from service.errors import NotFound
from service.ids import to_global_id
from service.mongo import Document

if TYPE_CHECKING:
    from schema.types.review import Review
    from schema.types.user import User


@strawberry.type(name="Comment")
class Comment(Node):
    text: str
    created_at: datetime
    doc: strawberry.Private[Document]

    @classmethod
    def of(cls, doc: Document) -> "Comment":
        return cls(
            id=strawberry.ID(to_global_id("Comment", doc["_id"])),
            text=doc["text"],
            created_at=doc["created_at"],
            doc=doc,
        )

    @strawberry.field
    async def review(
        self, info: Info
    ) -> Annotated["Review", strawberry.lazy("schema.types.review")]:
        from schema.types.review import Review

        doc = await info.context.loaders.review.load(self.doc["review_id"])
        if doc is None:
            raise NotFound("this comment's review no longer exists")
        return computed(info, Review.of(doc))

    @strawberry.field
    async def user(self, info: Info) -> Annotated["User", strawberry.lazy("schema.types.user")]:
        from schema.types.user import User

        return User.reader(info, await info.context.loaders.user.load(self.doc["user_id"]))
