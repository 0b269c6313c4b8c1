"""clearRating: remove the viewer's stars; null when nothing is left of the entry."""

import strawberry

from schema.context import Info, require_viewer
from schema.payload_figures import computed
from schema.types.review import Review
from service.ids import from_global_id
from service.repositories import entries


async def clear_rating(info: Info, book_id: strawberry.ID) -> Review | None:
    viewer = await require_viewer(info)
    book = from_global_id(book_id, "Book", "bookId")
    services = info.context.services
    doc = await entries.clear_rating(services.store, services.publisher, viewer, book)
    return computed(info, Review.of(doc)) if doc else None
