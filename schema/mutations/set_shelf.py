"""setShelf: put the book on one of the viewer's shelves, or take it off (null)."""

import strawberry

from schema.context import Info, require_viewer
from schema.payload_figures import computed
from schema.types.enums import Shelf
from schema.types.review import Review
from service.ids import from_global_id
from service.repositories import entries


async def set_shelf(
    info: Info, book_id: strawberry.ID, shelf: Shelf | None = None
) -> Review | None:
    viewer = await require_viewer(info)
    book = from_global_id(book_id, "Book", "bookId")
    services = info.context.services
    doc = await entries.set_shelf(
        services.store,
        services.publisher,
        viewer,
        book,
        shelf,
    )
    return computed(info, Review.of(doc)) if doc else None
