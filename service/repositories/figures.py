"""Aggregate figures: computed from the source documents (many documents per command), and
stored, fenced.

The worker and the reconciler store what these compute (workers.aggregates); mutation payloads
compute them for the response (schema.payload_figures), so that a payload counts the viewer's
own write exactly once whatever the worker has done yet.

A figure *part* is one command yielding some figures of many documents of one kind; a kind's
figures are its parts run in order. Payloads load only the parts they select.

Concurrent recomputations of one document (two workers, or a worker and the reconciler) are
fenced: each takes a number from one counter (`next_sequence`) *before* it reads the sources,
and `store_figures` writes only over figures computed from an earlier number. Without the fence
a slow worker could store figures read before a faster one's, after it: the fresher figures
would be overwritten and, the events being acknowledged, stay wrong until the next change.
With it the stored figures are always those of the latest read, which saw every change whose
event was applied.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne

from service.batches import in_batches
from service.documents import Shelf
from service.events import AggregateKind
from service.mongo import Document, Store

Figures = dict[str, Any]  # field path -> value, as stored on the aggregate's document
Part = Callable[[Store, list[ObjectId]], Awaitable[dict[ObjectId, Figures]]]


async def _grouped(
    store: Store, collection: str, field: str, ids: list[ObjectId], extra: Document, key: Any
) -> list[Document]:
    """Counts of the documents whose `field` is one of `ids` (and that match `extra`), grouped
    by `key`, which holds `field`: one aggregate per IN_BATCH ids, the groups of no two alike."""

    async def run(batch: list[ObjectId]) -> list[Document]:
        match = {field: {"$in": batch}, **extra}
        pipeline = [{"$match": match}, {"$group": {"_id": key, "n": {"$sum": 1}}}]
        return await (await store.db[collection].aggregate(pipeline)).to_list(None)

    return await in_batches(ids, run)


async def book_figures(store: Store, book_ids: list[ObjectId]) -> dict[ObjectId, Figures]:
    """ratingStats, shelfCounts and reviewsCount of each book: one aggregate command."""
    counts: dict[ObjectId, list[int]] = {b: [0, 0, 0, 0, 0] for b in book_ids}
    shelves: dict[ObjectId, dict[str, int]] = {
        b: dict.fromkeys((s.counts_field for s in Shelf), 0) for b in book_ids
    }
    texts: dict[ObjectId, int] = dict.fromkeys(book_ids, 0)
    groups = await _grouped(
        store,
        "reviews",
        "book_id",
        book_ids,
        {},
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
        shelf = key.get("s")
        if shelf in Shelf:
            shelves[book][Shelf(shelf).counts_field] += n
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


def _counting(collection: str, field: str, figure: str, extra: Document | None = None) -> Part:
    """A part counting the documents of `collection` whose `field` is each id (and `extra`)."""

    async def count(store: Store, ids: list[ObjectId]) -> dict[ObjectId, Figures]:
        found = dict.fromkeys(ids, 0)
        for group in await _grouped(store, collection, field, ids, extra or {}, f"${field}"):
            if group["_id"] in found:
                found[group["_id"]] = group["n"]
        return {i: {figure: n} for i, n in found.items()}

    return count


review_likes = _counting("likes", "review_id", "likes_count")
review_comments = _counting("comments", "review_id", "comments_count")
user_reviews = _counting("reviews", "user_id", "reviews_count", {"has_text": True})
user_followers = _counting("follows", "target_id", "followers_count", {"target_kind": "user"})
user_following = _counting("follows", "follower_id", "following_count")
author_followers = _counting("follows", "target_id", "followers_count", {"target_kind": "author"})


async def author_books(store: Store, author_ids: list[ObjectId]) -> dict[ObjectId, Figures]:
    async def run(batch: list[ObjectId]) -> list[Document]:
        pipeline: list[Document] = [
            {"$match": {"author_ids": {"$in": batch}}},
            {"$unwind": "$author_ids"},
            {"$group": {"_id": "$author_ids", "n": {"$sum": 1}}},
        ]
        groups = await (await store.books.aggregate(pipeline)).to_list(None)
        # A co-author of another batch is counted (in full) by that batch's command.
        wanted = set(batch)
        return [g for g in groups if g["_id"] in wanted]

    books: dict[ObjectId, int] = dict.fromkeys(author_ids, 0)
    for group in await in_batches(author_ids, run):
        books[group["_id"]] = group["n"]
    return {a: {"books_count": n} for a, n in books.items()}


def _all_of(*parts: Part) -> Part:
    """Every figure of a kind: its parts one after the other, merged per document."""

    async def compute(store: Store, ids: list[ObjectId]) -> dict[ObjectId, Figures]:
        merged: dict[ObjectId, Figures] = {i: {} for i in ids}
        for part in parts:
            for oid, values in (await part(store, ids)).items():
                merged[oid].update(values)
        return merged

    return compute


review_figures = _all_of(review_likes, review_comments)
user_figures = _all_of(user_reviews, user_followers, user_following)
author_figures = _all_of(author_followers, author_books)


def with_figures(doc: Document, figures: Figures) -> Document:
    """A copy of `doc` with `figures` (keyed by field path, `rating_stats.count`) set in it;
    the nested documents they change are copied too, the rest is shared."""
    result = dict(doc)
    for path, value in figures.items():
        target = result
        *parents, leaf = path.split(".")
        for parent in parents:
            nested = target.get(parent)
            target[parent] = dict(nested) if isinstance(nested, dict) else {}
            target = target[parent]
        target[leaf] = value
    return result


# --- stored figures ----------------------------------------------------------------------

SEQUENCE_ID = "aggregates_seq"  # the counter's document in the `meta` collection
SEQUENCE_FIELD = "aggregates_seq"  # on an aggregate document: the number its figures were read at

# Where each kind's figures are stored, and the computation of all of them.
STORED_IN: dict[AggregateKind, str] = {
    AggregateKind.BOOK: "books",
    AggregateKind.REVIEW: "reviews",
    AggregateKind.USER: "users",
    AggregateKind.AUTHOR: "authors",
}
COMPUTE: dict[AggregateKind, Part] = {
    AggregateKind.BOOK: book_figures,
    AggregateKind.REVIEW: review_figures,
    AggregateKind.USER: user_figures,
    AggregateKind.AUTHOR: author_figures,
}


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


async def store_figures(
    store: Store,
    kind: AggregateKind,
    figures: dict[ObjectId, Figures],
    at: datetime,
    seq: int,
) -> None:
    """Store recomputed figures in one bulk write, over figures read at an earlier number
    only (`seq` from `next_sequence`, taken before these were read); documents that no longer
    exist are skipped."""
    if not figures:
        return
    operations = []
    for oid, values in figures.items():
        update = {**values, SEQUENCE_FIELD: seq}
        if kind is AggregateKind.BOOK:
            update["rating_stats.updated_at"] = at
        selector = {"_id": oid, SEQUENCE_FIELD: {"$not": {"$gte": seq}}}  # or no number yet
        operations.append(UpdateOne(selector, {"$set": update}))
    await store.db[STORED_IN[kind]].bulk_write(operations, ordered=False)


async def stored_in_batches(
    store: Store, kind: AggregateKind, size: int
) -> AsyncIterator[list[Document]]:
    """Every document of a kind, with its stored figures, `size` at a time (the reconciler)."""
    batch: list[Document] = []
    async for doc in store.db[STORED_IN[kind]].find({}).sort("_id", 1):
        batch.append(doc)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
