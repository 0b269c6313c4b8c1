"""deleteReview: the owner removes the entry (shelf, rating, text) with its likes and comments."""

import strawberry

from schema.context import Info, require_viewer
from service.ids import from_global_id
from service.repositories import entries


async def delete_review(info: Info, id: strawberry.ID) -> bool:
    viewer = await require_viewer(info)
    review = from_global_id(id, "Review", "id")
    services = info.context.services
    await entries.delete_review(services.store, services.publisher, viewer, review)
    return True
