"""A user's entry for a book (the contract's Review): shelf, rating and text in one document.

An entry left with no shelf, no rating and no text is deleted, with its likes and comments,
so that every stored entry means something on a page.
"""

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from service.batches import in_batches
from service.documents import Shelf, new_entry_fields
from service.errors import Forbidden, NotFound
from service.events import Event, EventType
from service.mongo import Document, Store
from service.pagination import Ordering, Page, fetch_page, fetch_page_among
from service.publisher import EventPublisher
from service.repositories import books
from service.repositories.common import now


class ReviewOrder(StrEnum):
    POPULAR = "POPULAR"
    NEWEST = "NEWEST"
    OLDEST = "OLDEST"


BOOK_ORDERINGS: dict[ReviewOrder, Ordering] = {
    ReviewOrder.POPULAR: Ordering(
        "reviews:popular", (("likes_count", -1), ("created_at", -1), ("_id", -1))
    ),
    ReviewOrder.NEWEST: Ordering("reviews:newest", (("created_at", -1), ("_id", -1))),
    ReviewOrder.OLDEST: Ordering("reviews:oldest", (("created_at", 1), ("_id", 1))),
}
USER_ORDERING = Ordering("entries:newest", (("created_at", -1), ("_id", -1)))
MAX_FRIENDS = 1000


def is_empty(entry: Document) -> bool:
    return entry.get("shelf") is None and entry.get("rating") is None and not entry.get("has_text")


# --- reads -------------------------------------------------------------------------------


async def book_reviews(
    store: Store,
    book_id: ObjectId,
    *,
    first: int,
    after: str | None,
    order: ReviewOrder,
    stars: list[int] | None,
    search: str | None,
) -> Page:
    """A book's community reviews: its entries with text, optionally of some star ratings and
    containing some words."""
    query: Document = {"book_id": book_id, "has_text": True}
    if stars is not None:
        query["rating"] = {"$in": stars}
    if search:
        query["$text"] = {"$search": search}
    return await fetch_page(store.reviews, query, BOOK_ORDERINGS[order], first, after)


async def friends_reviews(
    store: Store, book_id: ObjectId, viewer_id: ObjectId | None, first: int, after: str | None
) -> Page:
    """A book's reviews by the users the viewer follows (at most MAX_FRIENDS of them)."""
    ordering = BOOK_ORDERINGS[ReviewOrder.NEWEST]
    follows = store.follows.find(
        {"follower_id": viewer_id, "target_kind": "user"}, {"target_id": 1}
    ).limit(MAX_FRIENDS)
    friends = [f["target_id"] for f in await follows.to_list(None)] if viewer_id else []
    if not friends:
        return Page.empty(ordering, after)
    query = {"book_id": book_id, "has_text": True}
    return await fetch_page_among(store.reviews, query, "user_id", friends, ordering, first, after)


async def user_entries(
    store: Store, user_id: ObjectId, shelf: Shelf | None, first: int, after: str | None
) -> Page:
    """A user's entries (their shelves), newest first, optionally of one shelf."""
    query: Document = {"user_id": user_id}
    if shelf is not None:
        query["shelf"] = shelf
    return await fetch_page(store.reviews, query, USER_ORDERING, first, after)


async def entries_of_user_for_books(
    store: Store, user_id: ObjectId, book_ids: Iterable[ObjectId]
) -> dict[ObjectId, Document]:
    found = await in_batches(
        book_ids,
        lambda batch: store.reviews.find({"user_id": user_id, "book_id": {"$in": batch}}).to_list(
            None
        ),
    )
    return {doc["book_id"]: doc for doc in found}


async def require(store: Store, review_id: ObjectId, field: str = "reviewId") -> Document:
    entry = await store.reviews.find_one({"_id": review_id})
    if entry is None:
        raise NotFound("no review has this id", field=field)
    return entry


# --- writes ------------------------------------------------------------------------------


def _entry_event(kind: EventType, user_id: ObjectId, book_id: ObjectId, **change: Any) -> Event:
    return Event(type=kind, user_id=str(user_id), book_id=str(book_id), change=change)


def entry_state(entry: Document | None) -> dict[str, Any] | None:
    """An entry as events describe it (`previous`): None when there was no entry."""
    if entry is None:
        return None
    return {
        "shelf": entry.get("shelf"),
        "stars": entry.get("rating"),
        "hasText": bool(entry.get("has_text")),
    }


async def _upsert(
    store: Store, user_id: ObjectId, book_id: ObjectId, changes: Document
) -> tuple[Document | None, Document]:
    """Create or update the (user, book) entry with `changes`; new entries start on READ.

    The entry before and after the write, from one findAndModify: it returns the document as
    it was (events carry it), and the document after is that plus `changes` (only top-level
    `$set` and `$setOnInsert`, so the result is exactly what MongoDB stored)."""
    stamp = now()
    written = {**changes, "updated_at": stamp}
    fresh = {k: v for k, v in new_entry_fields(stamp).items() if k not in written}
    on_insert = {"_id": ObjectId(), **fresh}
    update = {"$set": written, "$setOnInsert": on_insert}
    for attempt in range(2):
        try:
            before = await store.reviews.find_one_and_update(
                {"user_id": user_id, "book_id": book_id},
                update,
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:
            # Two concurrent first writes: the loser retries as an update.
            if attempt:
                raise
            continue
        if before is None:
            inserted = {"user_id": user_id, "book_id": book_id, **on_insert, **written}
            return None, inserted
        return before, {**before, **written}
    raise AssertionError("unreachable")


async def _update_or_remove(
    store: Store, user_id: ObjectId, book_id: ObjectId, changes: Document
) -> tuple[Document | None, Document | None]:
    """Apply `changes` to an existing entry; delete it if nothing is left in it. The entry
    before and after (None: there was none, or it is deleted)."""
    written = {**changes, "updated_at": now()}
    before = await store.reviews.find_one_and_update(
        {"user_id": user_id, "book_id": book_id},
        {"$set": written},
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        return None, None
    entry = {**before, **written}
    if is_empty(entry):
        await _delete_entry(store, entry["_id"])
        return before, None
    return before, entry


async def _delete_entry(store: Store, review_id: ObjectId) -> None:
    await store.likes.delete_many({"review_id": review_id})
    await store.comments.delete_many({"review_id": review_id})
    await store.reviews.delete_one({"_id": review_id})


async def rate_book(
    store: Store, publisher: EventPublisher, user_id: ObjectId, book_id: ObjectId, stars: int
) -> Document:
    await books.require(store, book_id)
    event = _entry_event(EventType.RATING_SET, user_id, book_id, stars=stars)
    async with publisher.change(event) as change:
        before, after = await _upsert(store, user_id, book_id, {"rating": stars})
        change.record(previous=entry_state(before))
        return after


async def clear_rating(
    store: Store, publisher: EventPublisher, user_id: ObjectId, book_id: ObjectId
) -> Document | None:
    await books.require(store, book_id)
    async with publisher.change(_entry_event(EventType.RATING_CLEARED, user_id, book_id)) as change:
        before, after = await _update_or_remove(store, user_id, book_id, {"rating": None})
        change.record(previous=entry_state(before))
        return after


async def set_shelf(
    store: Store,
    publisher: EventPublisher,
    user_id: ObjectId,
    book_id: ObjectId,
    shelf: Shelf | None,
) -> Document | None:
    await books.require(store, book_id)
    event = _entry_event(EventType.SHELF_SET, user_id, book_id, shelf=shelf)
    async with publisher.change(event) as change:
        if shelf is None:
            before, after = await _update_or_remove(store, user_id, book_id, {"shelf": None})
        else:
            before, after = await _upsert(store, user_id, book_id, {"shelf": shelf})
        change.record(previous=entry_state(before))
        return after


async def write_review(
    store: Store,
    publisher: EventPublisher,
    user_id: ObjectId,
    book_id: ObjectId,
    text: str,
    rating: int | None,
    spoiler: bool,
) -> Document:
    await books.require(store, book_id)
    changes: Document = {"text": text, "has_text": True, "spoiler": spoiler}
    written: dict[str, Any] = {"hasText": True, "spoiler": spoiler}
    if rating is not None:
        changes["rating"] = rating
        written["stars"] = rating
    event = _entry_event(EventType.REVIEW_WRITTEN, user_id, book_id, **written)
    async with publisher.change(event) as change:
        before, after = await _upsert(store, user_id, book_id, changes)
        change.record(previous=entry_state(before))
        return after


async def delete_review(
    store: Store, publisher: EventPublisher, user_id: ObjectId, review_id: ObjectId
) -> None:
    entry = await require(store, review_id, field="id")
    if entry["user_id"] != user_id:
        raise Forbidden("only the review's owner can delete it", field="id")
    event = _entry_event(
        EventType.REVIEW_DELETED, user_id, entry["book_id"], previous=entry_state(entry)
    )
    async with publisher.change(event):
        await _delete_entry(store, review_id)
