"""The event contract between the API (producer) and the aggregation worker (consumer).

A mutation appends one event to the Redis stream (`Settings.stream_key`) after its source
write. An event names what changed, not the new figures: the worker recomputes each affected
aggregate from the source documents, which makes handling idempotent and order-independent
(delivery is at-least-once; an event may arrive twice, late, or after a later one).

Stream entry fields (all strings):

| field        | meaning                                                        |
|--------------|----------------------------------------------------------------|
| `id`         | unique event id (hex), for logs and dead letters               |
| `type`       | one of `EventType`                                             |
| `at`         | ISO-8601 time the change was made                              |
| `book_id`    | entry events: the book (hex ObjectId)                          |
| `user_id`    | the user who acted (hex ObjectId)                              |
| `review_id`  | like and comment events: the review                            |
| `target_id`  | follow events: the followed user or author                     |
| `target_kind`| follow events: `user` or `author`                              |

Which aggregates each type touches is `targets_of(event)`.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    RATING_SET = "rating.set"
    RATING_CLEARED = "rating.cleared"
    SHELF_SET = "shelf.set"
    REVIEW_WRITTEN = "review.written"
    REVIEW_DELETED = "review.deleted"
    LIKE_ADDED = "like.added"
    LIKE_REMOVED = "like.removed"
    COMMENT_ADDED = "comment.added"
    COMMENT_DELETED = "comment.deleted"
    FOLLOW_ADDED = "follow.added"
    FOLLOW_REMOVED = "follow.removed"


ENTRY_EVENTS = frozenset(
    {
        EventType.RATING_SET,
        EventType.RATING_CLEARED,
        EventType.SHELF_SET,
        EventType.REVIEW_WRITTEN,
        EventType.REVIEW_DELETED,
    }
)
LIKE_EVENTS = frozenset({EventType.LIKE_ADDED, EventType.LIKE_REMOVED})
COMMENT_EVENTS = frozenset({EventType.COMMENT_ADDED, EventType.COMMENT_DELETED})
FOLLOW_EVENTS = frozenset({EventType.FOLLOW_ADDED, EventType.FOLLOW_REMOVED})


class AggregateKind(StrEnum):
    """Documents that carry aggregate figures, and which figures."""

    BOOK = "book"  # ratingStats, shelfCounts, reviewsCount
    REVIEW = "review"  # likesCount, commentsCount
    USER = "user"  # reviewsCount, followersCount, followingCount
    AUTHOR = "author"  # followersCount, booksCount


Target = tuple[AggregateKind, str]


@dataclass(frozen=True)
class Event:
    type: EventType
    user_id: str
    book_id: str = ""
    review_id: str = ""
    target_id: str = ""
    target_kind: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_fields(self) -> dict[str, str]:
        """The flat string mapping stored in the stream (empty fields left out)."""
        raw = {
            "id": self.id,
            "type": self.type.value,
            "at": self.at,
            "user_id": self.user_id,
            "book_id": self.book_id,
            "review_id": self.review_id,
            "target_id": self.target_id,
            "target_kind": self.target_kind,
        }
        return {k: v for k, v in raw.items() if v}

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any]) -> "Event":
        """Parse a stream entry; ValueError when it is not a valid event."""
        data = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()
        }
        try:
            event = cls(
                type=EventType(data["type"]),
                user_id=data.get("user_id", ""),
                book_id=data.get("book_id", ""),
                review_id=data.get("review_id", ""),
                target_id=data.get("target_id", ""),
                target_kind=data.get("target_kind", ""),
                id=data.get("id") or uuid.uuid4().hex,
                at=data.get("at") or datetime.now(UTC).isoformat(),
            )
        except KeyError as missing:
            raise ValueError(f"event without {missing}") from None
        if not targets_of(event):
            raise ValueError(f"event {event.type} lacks the ids it needs")
        return event


def targets_of(event: Event) -> set[Target]:
    """The aggregates an event may have changed: the worker recomputes exactly these."""
    if event.type in ENTRY_EVENTS and event.book_id and event.user_id:
        return {(AggregateKind.BOOK, event.book_id), (AggregateKind.USER, event.user_id)}
    if event.type in LIKE_EVENTS | COMMENT_EVENTS and event.review_id:
        return {(AggregateKind.REVIEW, event.review_id)}
    if event.type in FOLLOW_EVENTS and event.target_id and event.user_id:
        kind = AggregateKind.AUTHOR if event.target_kind == "author" else AggregateKind.USER
        if event.target_kind not in ("user", "author"):
            return set()
        return {(AggregateKind.USER, event.user_id), (kind, event.target_id)}
    return set()
