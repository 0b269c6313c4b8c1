"""Aggregate figures computed from the source documents, many documents per command (reads only).

The worker and the reconciler store what these compute (workers.aggregates, fenced); mutation
payloads compute them for the response (schema.payload_figures), so that a payload counts the
viewer's own write exactly once whatever the worker has done yet.

A figure *part* is one command yielding some figures of many documents of one kind; a kind's
figures are its parts run in order. Payloads load only the parts they select.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from bson import ObjectId

from service.mongo import Document, Store

Figures = dict[str, Any]  # field path -> value, as stored on the aggregate's document
Part = Callable[[Store, list[ObjectId]], Awaitable[dict[ObjectId, Figures]]]

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


def _counting(collection: str, field: str, figure: str, extra: Document | None = None) -> Part:
    """A part counting the documents of `collection` whose `field` is each id (and `extra`)."""

    async def count(store: Store, ids: list[ObjectId]) -> dict[ObjectId, Figures]:
        found = dict.fromkeys(ids, 0)
        for group in await _grouped(
            store, collection, {field: {"$in": ids}, **(extra or {})}, f"${field}"
        ):
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
    books: dict[ObjectId, int] = dict.fromkeys(author_ids, 0)
    pipeline: list[Document] = [
        {"$match": {"author_ids": {"$in": author_ids}}},
        {"$unwind": "$author_ids"},
        {"$group": {"_id": "$author_ids", "n": {"$sum": 1}}},
    ]
    for group in await (await store.books.aggregate(pipeline)).to_list(None):
        if group["_id"] in books:
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
