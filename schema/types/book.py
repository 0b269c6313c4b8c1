"""Book: source fields from the document, figures from the worker (computed from the sources in
mutation payloads), reviews by keyset pages."""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, ClassVar

import strawberry
from bson import ObjectId
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from schema.context import Info
from schema.payload_figures import (
    ComputedFields,
    computed,
    computed_all,
    computed_nodes,
    payload_of,
    stored_as,
)
from schema.types.connections import (
    ReviewConnection,
    count_of,
    empty_page_counter,
)
from schema.types.enums import ReviewSort
from schema.types.node import Node
from schema.types.stats import RatingStats, ShelfCounts
from service import validation
from service.ids import to_global_id
from service.mongo import Document
from service.pagination import Page
from service.repositories import entries, figures
from service.repositories.common import docs_by_ids
from service.repositories.figures import Figures, with_figures

if TYPE_CHECKING:
    from schema.types.author import Author
    from schema.types.review import Review


def _selects(
    selection_set: SelectionSetNode | None,
    path: tuple[str, ...],
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> bool:
    """Whether the field names `path` are selected under `selection_set`, through inline
    fragments and fragment spreads (directives are not evaluated: @skip'ped counts)."""
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value == path[0] and (
                len(path) == 1 or _selects(selection.selection_set, path[1:], fragments, seen)
            ):
                return True
        elif isinstance(selection, InlineFragmentNode):
            if _selects(selection.selection_set, path, fragments, seen):
                return True
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if (
                fragment is not None
                and name not in seen
                and _selects(fragment.selection_set, path, fragments, seen | {name})
            ):
                return True
    return False


def selects_review_user(info: Info) -> bool:
    """Does this `reviews` field select `edges { node { user } }`?"""
    raw = info._raw_info
    return any(
        _selects(node.selection_set, ("edges", "node", "user"), raw.fragments)
        for node in raw.field_nodes
    )


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@strawberry.type(name="Book")
class Book(Node):
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

    @strawberry.field
    def rating_stats(self) -> RatingStats:
        if self.computed_figures is not None:  # awaited by graphql-core
            return self._computed(RatingStats.of, "rating_stats")  # type: ignore[return-value]
        return RatingStats.of(self.doc.get("rating_stats"))

    @strawberry.field
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
        first = validation.page_size(first, default=30)
        star_filter = validation.stars_filter(stars)
        words = validation.search(search)
        store = info.context.services.store
        page: Page = await entries.book_reviews(
            store,
            self.oid,
            first=first,
            after=after,
            order=entries.ReviewOrder((sort or ReviewSort.POPULAR).value),
            stars=star_filter,
            search=words,
        )
        query = entries.book_reviews_query(self.oid, star_filter, words)
        users = None
        payload = payload_of(info)
        if page.docs and payload is None and selects_review_user(info):
            # One find for the page's reviewers (the command the per-review loads would have
            # batched into), straight from the repository: each Review.user then resolves
            # synchronously, and the page skips the loader's future and task per key.
            found = await docs_by_ids(store.users, [d["user_id"] for d in page.docs])
            users = [found.get(d["user_id"]) for d in page.docs]
        # (In a mutation's payload the users come through Review.user, which computes
        # their figures.)
        connection = ReviewConnection.of(page, count_of(store.reviews, query), users)
        return payload.overlay_nodes(connection) if payload is not None else connection

    @strawberry.field
    async def friends_reviews(
        self, info: Info, first: int | None = 10, after: str | None = None
    ) -> ReviewConnection:
        first = validation.page_size(first, default=10)
        viewer = info.context.viewer_id
        store = info.context.services.store
        friends = await entries.followed_user_ids(store, viewer) if viewer else []
        if not friends:
            empty = Page(
                docs=[],
                has_next=False,
                has_previous=after is not None,
                ordering=entries.BOOK_ORDERINGS[entries.ReviewOrder.NEWEST],
            )
            return ReviewConnection.of(empty, empty_page_counter())
        page = await entries.friends_reviews(store, self.oid, friends, first, after)
        query = entries.friends_reviews_query(self.oid, friends)
        return computed_nodes(info, ReviewConnection.of(page, count_of(store.reviews, query)))

    @strawberry.field
    async def viewer_review(
        self, info: Info
    ) -> Annotated["Review", strawberry.lazy("schema.types.review")] | None:
        from schema.types.review import Review

        if info.context.viewer_id is None:
            return None
        doc = await info.context.loaders.viewer_entry.load(self.oid)
        return computed(info, Review.of(doc)) if doc else None
