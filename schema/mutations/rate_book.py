"""rateBook: set the viewer's stars for a book (creates the entry on the READ shelf)."""

import strawberry

from schema.context import Info, require_viewer
from schema.payload_figures import computed
from schema.types.review import Review
from service import validation
from service.ids import from_global_id
from service.repositories import entries


async def rate_book(info: Info, book_id: strawberry.ID, stars: int) -> Review:
    viewer = await require_viewer(info)
    book = from_global_id(book_id, "Book", "bookId")
    validation.stars(stars)
    services = info.context.services
    doc = await entries.rate_book(services.store, services.publisher, viewer, book, stars)
    return computed(info, Review.of(doc))
