"""Book: source fields from the document, figures from the worker (computed from the sources in
mutation payloads), reviews by keyset pages."""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import strawberry
from bson import ObjectId

from schema.context import Info
from schema.document_fields import AttributeFigures
from schema.execution import PREFETCHED
from schema.payload_figures import (
    ComputedFields,
    computed,
    computed_all,
    computed_nodes,
    payload_of,
    stored_as,
)
from schema.selections import selects
from schema.types.connections import Connection, ReviewConnection
from schema.types.enums import ReviewSort
from schema.types.node import Node
from schema.types.stats import RatingStats, ShelfCounts
from service import validation
from service.ids import to_global_id
from service.mongo import Document
from service.repositories import entries, figures, users
from service.repositories.figures import Figures, with_figures

if TYPE_CHECKING:
    from schema.types.author import Author
    from schema.types.review import Review


# Field nodes (by identity: the parse cache hands out one document per text) -> whether they
# select the reviewers; the nodes are kept, so their ids are not reused while cached.
_SELECTS_USER: dict[tuple[int, ...], tuple[list[Any], bool]] = {}
_SELECTS_USER_SIZE = 1024


def selects_review_user(info: Info) -> bool:
    """Does this `reviews` field select `edges { node { user } }`? Worked out once per
    document's field (a page asks on every request)."""
    raw = info._raw_info
    nodes = raw.field_nodes
    key = tuple(map(id, nodes))
    known = _SELECTS_USER.get(key)
    if known is not None and all(a is b for a, b in zip(known[0], nodes, strict=True)):
        return known[1]
    path = ("edges", "node", "user")
    found = any(selects(node.selection_set, path, raw.fragments) for node in nodes)
    if len(_SELECTS_USER) >= _SELECTS_USER_SIZE:
        _SELECTS_USER.clear()
    _SELECTS_USER[key] = (list(nodes), found)
    return found


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@strawberry.type(name="Book")
class Book(AttributeFigures, Node):
    title: str
    subtitle: str | None
    description: str | None
    page_count: int | None
    format: str | None
    isbn13: str | None
    first_published: date | None
    cover_url: str | None
    genres: list[str]
    reviews_count: int
    doc: strawberry.Private[Document]
    # In a mutation's payload (schema.payload_figures): the figures computed from the sources,
    # which ratingStats and shelfCounts then show instead of the stored ones.
    computed_figures: strawberry.Private[Awaitable[Figures] | None] = None
    COMPUTED: ClassVar[ComputedFields] = {
        **stored_as(reviews_count=figures.book_figures),
        "computed_figures": (figures.book_figures, lambda found: found),
    }

    @classmethod
    def of(cls, doc: Document) -> "Book":
        return cls(
            id=strawberry.ID(to_global_id("Book", doc["_id"])),
            title=doc["title"],
            subtitle=doc.get("subtitle"),
            description=doc.get("description"),
            page_count=doc.get("page_count"),
            format=doc.get("format"),
            isbn13=doc.get("isbn13"),
            first_published=_date(doc.get("first_published")),
            cover_url=doc.get("cover_url"),
            genres=doc.get("genres") or [],
            reviews_count=doc.get("reviews_count", 0),
            doc=doc,
        )

    @property
    def oid(self) -> ObjectId:
        return self.doc["_id"]

    @strawberry.field
    async def authors(
        self, info: Info
    ) -> list[Annotated["Author", strawberry.lazy("schema.types.author")]]:
        from schema.types.author import Author

        docs = await info.context.loaders.author.load_many(self.doc.get("author_ids") or [])
        return computed_all(info, [Author.of(d) for d in docs if d is not None])

    # The stored figures as attributes, which the planned and compiled executions read
    # without calling the resolvers (schema.execution, PREFETCHED). None sends them to the
    # resolver: in a mutation's payload (computed figures), and when building them fails
    # (the resolver fails the same way, and graphql-core reports it at the field's path).
    @property
    def stored_rating_stats(self) -> RatingStats | None:
        return self._stored(RatingStats.of, "rating_stats")

    @property
    def stored_shelf_counts(self) -> ShelfCounts | None:
        return self._stored(ShelfCounts.of, "shelf_counts")

    def _stored[S](self, build: Callable[[Document | None], S], field: str) -> S | None:
        if self.computed_figures is not None:
            return None
        try:
            return build(self.doc.get(field))
        except Exception:
            return None

    @strawberry.field(metadata={PREFETCHED: "stored_rating_stats"})
    def rating_stats(self) -> RatingStats:
        if self.computed_figures is not None:  # awaited by graphql-core
            return self._computed(RatingStats.of, "rating_stats")  # type: ignore[return-value]
        return RatingStats.of(self.doc.get("rating_stats"))

    @strawberry.field(metadata={PREFETCHED: "stored_shelf_counts"})
    def shelf_counts(self) -> ShelfCounts:
        if self.computed_figures is not None:  # awaited by graphql-core
            return self._computed(ShelfCounts.of, "shelf_counts")  # type: ignore[return-value]
        return ShelfCounts.of(self.doc.get("shelf_counts"))

    async def _computed[S](self, build: Callable[[Document | None], S], field: str) -> S:
        """The figure object `field` built from the computed figures (ratingStats keeps its
        stored updatedAt: when the worker last stored them)."""
        assert self.computed_figures is not None
        return build(with_figures(self.doc, await self.computed_figures).get(field))

    @strawberry.field
    async def reviews(
        self,
        info: Info,
        first: int | None = 30,
        after: str | None = None,
        sort: ReviewSort | None = ReviewSort.POPULAR,
        stars: list[int] | None = None,
        search: str | None = None,
    ) -> ReviewConnection:
        from schema.types.review import Review

        store = info.context.services.store
        page = await entries.book_reviews(
            store,
            self.oid,
            first=validation.page_size(first, default=30),
            after=after,
            order=sort or ReviewSort.POPULAR,
            stars=validation.stars_filter(stars),
            search=validation.search(search),
        )
        payload = payload_of(info)
        if payload is not None:
            # In a mutation's payload the users come through Review.user, which computes
            # their figures.
            return payload.overlay_nodes(Connection.of(page, map(Review.of, page.docs)))
        if page.docs and selects_review_user(info):
            # One find for the page's reviewers (the command the per-review loads would have
            # batched into): each Review.user then resolves synchronously, and the page skips
            # the loader's future and task per key.
            # A reviewer who is gone shows as the deleted reader (User.reader).
            loaders = info.context.loaders
            found = await loaders.users_by_ids([d["user_id"] for d in page.docs])
            reviewers = [found.get(d["user_id"]) or users.deleted_reader() for d in page.docs]
            return Connection.of(page, map(Review.of, page.docs, reviewers))
        return Connection.of(page, map(Review.of, page.docs))

    @strawberry.field
    async def friends_reviews(
        self, info: Info, first: int | None = 10, after: str | None = None
    ) -> ReviewConnection:
        from schema.types.review import Review

        page = await entries.friends_reviews(
            info.context.services.store,
            self.oid,
            info.context.viewer_id,
            validation.page_size(first, default=10),
            after,
        )
        return computed_nodes(info, Connection.of(page, map(Review.of, page.docs)))

    @strawberry.field
    def viewer_review(
        self, info: Info
    ) -> Annotated["Review", strawberry.lazy("schema.types.review")] | None:
        # None at once for an anonymous request (no coroutine to schedule and await), else an
        # awaitable that graphql-core awaits.
        if info.context.viewer_id is None:
            return None
        return self._viewer_review(info)  # type: ignore[return-value]

    async def _viewer_review(self, info: Info) -> "Review | None":
        from schema.types.review import Review

        doc = await info.context.loaders.viewer_entry.load(self.oid)
        return computed(info, Review.of(doc)) if doc else None
