"""likeReview and unlikeReview: idempotent, a like counts once."""

import strawberry

from schema.context import Info, require_viewer
from schema.payload_figures import computed
from schema.types.review import Review
from service.ids import from_global_id
from service.repositories import social


async def like_review(info: Info, review_id: strawberry.ID) -> Review:
    viewer = await require_viewer(info)
    review = from_global_id(review_id, "Review", "reviewId")
    services = info.context.services
    doc = await social.like(services.store, services.publisher, viewer, review)
    return computed(info, Review.of(doc))


async def unlike_review(info: Info, review_id: strawberry.ID) -> Review:
    viewer = await require_viewer(info)
    review = from_global_id(review_id, "Review", "reviewId")
    services = info.context.services
    doc = await social.unlike(services.store, services.publisher, viewer, review)
    return computed(info, Review.of(doc))
