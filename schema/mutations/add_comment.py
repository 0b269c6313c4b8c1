"""addComment: the viewer comments on a review."""

import strawberry

from schema.context import Info, require_viewer
from schema.types.comment import Comment
from service import validation
from service.ids import from_global_id
from service.repositories import social


async def add_comment(info: Info, review_id: strawberry.ID, text: str) -> Comment:
    viewer = await require_viewer(info)
    review = from_global_id(review_id, "Review", "reviewId")
    services = info.context.services
    body = validation.text(text, services.settings.max_text_length, "text")
    doc = await social.add_comment(services.store, services.publisher, viewer, review, body)
    return Comment.of(doc)
