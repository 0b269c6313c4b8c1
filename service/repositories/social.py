"""Likes, comments and follows: the social edges between users, reviews and authors."""

from typing import Literal

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from service.batches import in_batches
from service.errors import BadUserInput, Forbidden, NotFound
from service.events import Event, EventType
from service.mongo import Document, Store
from service.pagination import Ordering, Page, fetch_page
from service.publisher import EventPublisher
from service.repositories import authors, entries, users
from service.repositories.common import now

COMMENT_ORDERING = Ordering("comments:oldest", (("created_at", 1), ("_id", 1)))
TargetKind = Literal["user", "author"]


async def _insert_edge(collection: AsyncCollection, key: Document) -> bool:
    """Create the edge unless it exists; False when it did (repeats are no-ops)."""
    try:
        result = await collection.update_one(
            key, {"$setOnInsert": {"created_at": now()}}, upsert=True
        )
    except DuplicateKeyError:  # a concurrent identical request won the race
        return False
    return result.upserted_id is not None


def _review_event(kind: EventType, user_id: ObjectId, review: Document, **change: str) -> Event:
    """An event about a review: the ids of its book and its owner come along (the review is
    read anyway), so a consumer can tell a review's owner without asking the API."""
    return Event(
        type=kind,
        user_id=str(user_id),
        book_id=str(review["book_id"]),
        review_id=str(review["_id"]),
        change={"reviewOwnerId": str(review["user_id"]), **change},
    )


# --- likes -------------------------------------------------------------------------------


async def like(
    store: Store, publisher: EventPublisher, user_id: ObjectId, review_id: ObjectId
) -> Document:
    review = await entries.require(store, review_id)
    event = _review_event(EventType.LIKE_ADDED, user_id, review)
    async with publisher.change(event) as change:
        if not await _insert_edge(store.likes, {"user_id": user_id, "review_id": review_id}):
            change.discard()
    return review


async def unlike(
    store: Store, publisher: EventPublisher, user_id: ObjectId, review_id: ObjectId
) -> Document:
    review = await entries.require(store, review_id)
    event = _review_event(EventType.LIKE_REMOVED, user_id, review)
    async with publisher.change(event) as change:
        result = await store.likes.delete_one({"user_id": user_id, "review_id": review_id})
        if result.deleted_count == 0:
            change.discard()
    return review


async def liked_review_ids(
    store: Store, user_id: ObjectId, review_ids: list[ObjectId]
) -> set[ObjectId]:
    found = await in_batches(
        review_ids,
        lambda batch: store.likes.find(
            {"user_id": user_id, "review_id": {"$in": batch}}, {"review_id": 1}
        ).to_list(None),
    )
    return {doc["review_id"] for doc in found}


# --- comments ----------------------------------------------------------------------------


async def add_comment(
    store: Store, publisher: EventPublisher, user_id: ObjectId, review_id: ObjectId, text: str
) -> Document:
    review = await entries.require(store, review_id)
    comment: Document = {
        "_id": ObjectId(),
        "review_id": review_id,
        "user_id": user_id,
        "text": text,
        "created_at": now(),
    }
    event = _review_event(EventType.COMMENT_ADDED, user_id, review, commentId=str(comment["_id"]))
    async with publisher.change(event):
        await store.comments.insert_one(comment)
    return comment


async def delete_comment(
    store: Store, publisher: EventPublisher, user_id: ObjectId, comment_id: ObjectId
) -> None:
    comment = await store.comments.find_one({"_id": comment_id})
    if comment is None:
        raise NotFound("no comment has this id", field="id")
    if comment["user_id"] != user_id:
        raise Forbidden("only the comment's author can delete it", field="id")
    event = Event(
        type=EventType.COMMENT_DELETED,
        user_id=str(user_id),
        review_id=str(comment["review_id"]),
        change={"commentId": str(comment_id)},
    )
    async with publisher.change(event):
        await store.comments.delete_one({"_id": comment_id})


async def comments_of(store: Store, review_id: ObjectId, first: int, after: str | None) -> Page:
    return await fetch_page(
        store.comments, {"review_id": review_id}, COMMENT_ORDERING, first, after
    )


# --- follows -----------------------------------------------------------------------------


async def _require_target(store: Store, kind: TargetKind, target_id: ObjectId) -> None:
    if kind == "author":
        await authors.require(store, target_id)
    else:
        await users.require(store, target_id)


async def follow(
    store: Store,
    publisher: EventPublisher,
    follower_id: ObjectId,
    kind: TargetKind,
    target_id: ObjectId,
) -> None:
    if kind == "user" and follower_id == target_id:
        raise BadUserInput("userId: you cannot follow yourself", field="userId")
    await _require_target(store, kind, target_id)
    event = Event(
        type=EventType.FOLLOW_ADDED,
        user_id=str(follower_id),
        target_id=str(target_id),
        target_kind=kind,
    )
    async with publisher.change(event) as change:
        edge = {"follower_id": follower_id, "target_kind": kind, "target_id": target_id}
        if not await _insert_edge(store.follows, edge):
            change.discard()


async def unfollow(
    store: Store,
    publisher: EventPublisher,
    follower_id: ObjectId,
    kind: TargetKind,
    target_id: ObjectId,
) -> None:
    await _require_target(store, kind, target_id)
    event = Event(
        type=EventType.FOLLOW_REMOVED,
        user_id=str(follower_id),
        target_id=str(target_id),
        target_kind=kind,
    )
    async with publisher.change(event) as change:
        result = await store.follows.delete_one(
            {"follower_id": follower_id, "target_kind": kind, "target_id": target_id}
        )
        if result.deleted_count == 0:
            change.discard()


async def followed_ids(
    store: Store, follower_id: ObjectId, kind: TargetKind, target_ids: list[ObjectId]
) -> set[ObjectId]:
    found = await in_batches(
        target_ids,
        lambda batch: store.follows.find(
            {"follower_id": follower_id, "target_kind": kind, "target_id": {"$in": batch}},
            {"target_id": 1},
        ).to_list(None),
    )
    return {doc["target_id"] for doc in found}
