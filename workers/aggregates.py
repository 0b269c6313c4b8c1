"""Recompute aggregate figures from the source documents, many documents per command.

Every handler of the pipeline ends here: figures are derived from the sources, never
incremented, so applying an event twice or out of order cannot make them wrong.

Concurrent recomputations of one document (two workers, or a worker and the reconciler) are
fenced: each takes a number from one counter *before* it reads the sources and writes only
over figures computed from an earlier number. Without the fence a slow worker could store
figures read before a faster one's, after it: the fresher figures would be overwritten and,
the events being acknowledged, stay wrong until the next change. With it the stored figures
are always those of the latest read, which saw every change whose event was applied.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne

from service.events import AggregateKind
from service.mongo import Document, Store

Figures = dict[str, Any]  # field path -> value, as stored on the aggregate's document

SEQUENCE_ID = "aggregates_seq"  # the counter's document in the `meta` collection
SEQUENCE_FIELD = "aggregates_seq"  # on an aggregate document: the number its figures were read at

SHELF_FIELDS = {
    "WANT_TO_READ": "want_to_read",
    "CURRENTLY_READING": "currently_reading",
    "READ": "read",
}


async def _grouped(store: Store, collection: str, match: Document, key: Any) -> list[Document]:
    pipeline = [{"$match": match}, {"$group": {"_id": key, "n": {"$sum": 1}}}]
    cursor = await store.db[collection].aggregate(pipeline)
    return await cursor.to_list(None)


async def book_figures(store: Store, book_ids: list[ObjectId]) -> dict[ObjectId, Figures]:
    """ratingStats, shelfCounts and reviewsCount of each book: one aggregate command."""
    counts: dict[ObjectId, list[int]] = {b: [0, 0, 0, 0, 0] for b in book_ids}
    shelves: dict[ObjectId, dict[str, int]] = {
        b: dict.fromkeys(SHELF_FIELDS.values(), 0) for b in book_ids
    }
    texts: dict[ObjectId, int] = dict.fromkeys(book_ids, 0)
    groups = await _grouped(
        store,
        "reviews",
        {"book_id": {"$in": book_ids}},
        {"b": "$book_id", "r": "$rating", "s": "$shelf", "t": "$has_text"},
    )
    for group in groups:
        key, n = group["_id"], group["n"]
        book = key["b"]
        if book not in counts:
            continue
        rating = key.get("r")
        if isinstance(rating, int) and 1 <= rating <= 5:
            counts[book][rating - 1] += n
        shelf = SHELF_FIELDS.get(key.get("s") or "")
        if shelf:
            shelves[book][shelf] += n
        if key.get("t"):
            texts[book] += n
    return {
        b: {
            "rating_stats.counts": counts[b],
            "rating_stats.count": sum(counts[b]),
            "rating_stats.sum": sum((i + 1) * c for i, c in enumerate(counts[b])),
            "shelf_counts": shelves[b],
            "reviews_count": texts[b],
        }
        for b in book_ids
    }


async def _counts(
    store: Store, collection: str, field: str, ids: list[ObjectId], extra: Document | None = None
) -> dict[ObjectId, int]:
    found = dict.fromkeys(ids, 0)
    for group in await _grouped(
        store, collection, {field: {"$in": ids}, **(extra or {})}, f"${field}"
    ):
        if group["_id"] in found:
            found[group["_id"]] = group["n"]
    return found


async def review_figures(store: Store, review_ids: list[ObjectId]) -> dict[ObjectId, Figures]:
    likes = await _counts(store, "likes", "review_id", review_ids)
    comments = await _counts(store, "comments", "review_id", review_ids)
    return {r: {"likes_count": likes[r], "comments_count": comments[r]} for r in review_ids}


async def user_figures(store: Store, user_ids: list[ObjectId]) -> dict[ObjectId, Figures]:
    reviews = await _counts(store, "reviews", "user_id", user_ids, {"has_text": True})
    followers = await _counts(store, "follows", "target_id", user_ids, {"target_kind": "user"})
    following = await _counts(store, "follows", "follower_id", user_ids)
    return {
        u: {
            "reviews_count": reviews[u],
            "followers_count": followers[u],
            "following_count": following[u],
        }
        for u in user_ids
    }


async def author_figures(store: Store, author_ids: list[ObjectId]) -> dict[ObjectId, Figures]:
    followers = await _counts(store, "follows", "target_id", author_ids, {"target_kind": "author"})
    books: dict[ObjectId, int] = dict.fromkeys(author_ids, 0)
    pipeline: list[Document] = [
        {"$match": {"author_ids": {"$in": author_ids}}},
        {"$unwind": "$author_ids"},
        {"$group": {"_id": "$author_ids", "n": {"$sum": 1}}},
    ]
    for group in await (await store.books.aggregate(pipeline)).to_list(None):
        if group["_id"] in books:
            books[group["_id"]] = group["n"]
    return {a: {"followers_count": followers[a], "books_count": books[a]} for a in author_ids}


RECOMPUTE = {
    AggregateKind.BOOK: ("books", book_figures),
    AggregateKind.REVIEW: ("reviews", review_figures),
    AggregateKind.USER: ("users", user_figures),
    AggregateKind.AUTHOR: ("authors", author_figures),
}


@dataclass(frozen=True)
class Written:
    kind: AggregateKind
    ids: list[ObjectId]
    commands: int


async def next_sequence(store: Store) -> int:
    """A number greater than every one handed out before: take it before reading sources."""
    counter = await store.meta.find_one_and_update(
        {"_id": SEQUENCE_ID},
        {"$inc": {"n": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert counter is not None  # upserted
    return int(counter["n"])


async def write_figures(
    store: Store,
    kind: AggregateKind,
    figures: dict[ObjectId, Figures],
    at: datetime,
    seq: int | None = None,
) -> int:
    """Store recomputed figures: one bulk write; documents that no longer exist are skipped.

    With `seq` (from `next_sequence`, taken before the figures were read) a document is only
    written when its stored figures were read at an earlier number; without it, always.
    """
    if not figures:
        return 0
    collection, _ = RECOMPUTE[kind]
    operations = []
    for oid, values in figures.items():
        update = dict(values)
        if kind is AggregateKind.BOOK:
            update["rating_stats.updated_at"] = at
        selector: dict[str, Any] = {"_id": oid}
        if seq is not None:
            update[SEQUENCE_FIELD] = seq
            selector[SEQUENCE_FIELD] = {"$not": {"$gte": seq}}  # also matches a missing field
        operations.append(UpdateOne(selector, {"$set": update}))
    await store.db[collection].bulk_write(operations, ordered=False)
    return 1


async def recompute(
    store: Store,
    kind: AggregateKind,
    ids: Iterable[ObjectId],
    at: datetime,
    seq: int | None = None,
) -> dict[ObjectId, Figures]:
    """Recompute and store the figures of `ids`; returns what was computed.

    `seq` must come from `next_sequence` before this call (one is taken here when None).
    """
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    if seq is None:
        seq = await next_sequence(store)
    _, compute = RECOMPUTE[kind]
    figures = await compute(store, wanted)
    await write_figures(store, kind, figures, at, seq)
    return figures
