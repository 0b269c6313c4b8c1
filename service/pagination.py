"""Relay-style keyset pagination: pages are found by comparing sort keys, never by skipping,
so a page costs the same wherever it starts and new documents do not shift later pages."""

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cmp_to_key
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from service.batches import id_batches
from service.ids import decode_cursor, encode_cursor
from service.mongo import Document

# Ids per batch when a text search's matches are counted by finding them (Page.total_count).
COUNT_BATCH = 10_000

Sort = Sequence[tuple[str, int]]  # (field, 1 ascending | -1 descending); the last is unique

# What each field a list is sorted by holds: a cursor's values must be of these types (a
# forged one fails as BadUserInput instead of reaching MongoDB or datetime).
SORT_KEY_TYPES: dict[str, type] = {"_id": ObjectId, "created_at": datetime, "likes_count": int}


@dataclass(frozen=True)
class Ordering:
    """A named sort order; the name goes into cursors so a cursor only fits its own list."""

    name: str
    sort: Sort

    def __post_init__(self) -> None:
        unknown = [field for field, _ in self.sort if field not in SORT_KEY_TYPES]
        if unknown:
            raise ValueError(f"sort fields without a cursor type (SORT_KEY_TYPES): {unknown}")

    @property
    def key_types(self) -> list[type]:
        return [SORT_KEY_TYPES[field] for field, _ in self.sort]

    def key_of(self, doc: Document) -> list[Any]:
        return [doc.get(field) for field, _ in self.sort]

    def compare(self, a: Document, b: Document) -> int:
        """-1, 0 or 1 as `a` comes before, with or after `b` in this order (a missing or null
        value sorts first ascending, as in MongoDB)."""
        for field, direction in self.sort:
            x, y = a.get(field), b.get(field)
            left = (0, 0) if x is None else (1, x)
            right = (0, 0) if y is None else (1, y)
            if left != right:
                return direction if left > right else -direction
        return 0

    def cursor_of(self, doc: Document) -> str:
        return encode_cursor(self.name, self.key_of(doc))

    def after_filter(self, cursor: str) -> Document:
        """Documents strictly after the cursor's key in this order."""
        values = decode_cursor(cursor, self.name, self.key_types)
        branches: list[Document] = []
        for i, (field, direction) in enumerate(self.sort):
            branch = {f: values[j] for j, (f, _) in enumerate(self.sort[:i])}
            branch[field] = {("$gt" if direction > 0 else "$lt"): values[i]}
            branches.append(branch)
        return {"$or": branches}


@dataclass(frozen=True)
class Page:
    """One page of a list, with what it takes to count the whole list when asked
    (`totalCount` is counted only when a query selects it)."""

    docs: list[Document]
    has_next: bool
    has_previous: bool
    ordering: Ordering
    collection: AsyncCollection | None  # None: a list known to be empty
    filters: list[Document]  # the list is the union of these (disjoint) filters' documents

    @classmethod
    def empty(cls, ordering: Ordering, after: str | None) -> "Page":
        return cls([], False, after is not None, ordering, None, [])

    async def total_count(self) -> int:
        """How many documents the whole list holds (one command per filter)."""
        if self.collection is None:
            return 0
        return sum([await _count(self.collection, query) for query in self.filters])


async def _count(collection: AsyncCollection, query: Document) -> int:
    if "$text" in query:
        # A text search is counted by finding the matches' ids: count_documents runs an
        # aggregate, where the embedded MongoDB (mongoeco) refuses $text, and mongoeco's
        # SQLite engine (`make dev`) answers the count command ignoring $text. A find
        # filters the same on both engines and on MongoDB (where the $text match is the
        # cost either way); only ids come back, in large batches.
        matches = collection.find(query, {"_id": 1}, batch_size=COUNT_BATCH)
        return len(await matches.to_list(None))
    return int(await collection.count_documents(query))


async def _find_after(
    collection: AsyncCollection,
    query: Document,
    ordering: Ordering,
    first: int,
    after: str | None,
    projection: Document | None,
) -> list[Document]:
    """The first + 1 documents after `after` (one find command), to see ahead."""
    # The cursor's condition joins the query's own top-level keys rather than wrapping the query
    # in $and: the embedded MongoDB (mongoeco) refuses $text anywhere but at the top level.
    page_filter = (
        {**query, "$and": [*query.get("$and", []), ordering.after_filter(after)]}
        if after is not None
        else query
    )
    cursor = collection.find(page_filter, projection).sort(list(ordering.sort)).limit(first + 1)
    return await cursor.to_list(first + 1)


async def fetch_page(
    collection: AsyncCollection,
    query: Document,
    ordering: Ordering,
    first: int,
    after: str | None,
    projection: Document | None = None,
) -> Page:
    """One page of `first` documents after `after`: one find command (first + 1 to see ahead)."""
    docs = await _find_after(collection, query, ordering, first, after, projection)
    return _page(docs, collection, [query], ordering, first, after)


async def fetch_page_among(
    collection: AsyncCollection,
    query: Document,
    field: str,
    values: list[Any],
    ordering: Ordering,
    first: int,
    after: str | None,
) -> Page:
    """`fetch_page` over the documents of `query` whose `field` is one of `values`, however
    many: one find per IN_BATCH values (service.batches), their pages merged in the order, and
    one count per batch when the total is asked for."""
    filters = [{**query, field: {"$in": batch}} for batch in id_batches(values)]
    if not filters:
        return Page.empty(ordering, after)
    found = [await _find_after(collection, f, ordering, first, after, None) for f in filters]
    merged = heapq.merge(*found, key=cmp_to_key(ordering.compare))
    docs = [doc for _, doc in zip(range(first + 1), merged, strict=False)]
    return _page(docs, collection, filters, ordering, first, after)


def _page(
    docs: list[Document],
    collection: AsyncCollection,
    filters: list[Document],
    ordering: Ordering,
    first: int,
    after: str | None,
) -> Page:
    return Page(
        docs=docs[:first],
        has_next=len(docs) > first,
        has_previous=after is not None,
        ordering=ordering,
        collection=collection,
        filters=filters,
    )
