"""writeReview: create or replace the viewer's text for a book (and optionally its stars)."""

import strawberry

from schema.context import Info, require_viewer
from schema.payload_figures import computed
from schema.types.review import Review
from service import validation
from service.ids import from_global_id
from service.repositories import entries


@strawberry.input(name="WriteReviewInput")
class WriteReviewInput:
    book_id: strawberry.ID
    text: str
    rating: int | None = None
    spoiler: bool | None = False


async def write_review(info: Info, input: WriteReviewInput) -> Review:
    viewer = await require_viewer(info)
    services = info.context.services
    book = from_global_id(input.book_id, "Book", "input.bookId")
    text = validation.text(input.text, services.settings.max_text_length, "input.text")
    rating = validation.stars(input.rating, "input.rating") if input.rating is not None else None
    doc = await entries.write_review(
        services.store, services.publisher, viewer, book, text, rating, bool(input.spoiler)
    )
    return computed(info, Review.of(doc))
