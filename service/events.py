"""The event contract between the API (producer) and every consumer of the stream: our own
aggregation worker and other teams' workers. The machine-readable form is
`contract/events.asyncapi.yaml`; the consumer guide is in the README.

A mutation appends one event to the Redis stream (`Settings.stream_key`) after its source
write. Each stream entry is a CloudEvents 1.0 event in binary mode: every attribute is one
string field of the entry, and `data` holds the change as JSON text.

| field             | meaning                                                             |
|-------------------|---------------------------------------------------------------------|
| `specversion`     | `1.0` (CloudEvents); an entry without it is a legacy (pre-1) entry   |
| `id`              | unique event id (32 hex digits); a re-published event keeps it      |
| `source`          | `/bookservice/api`                                                  |
| `type`            | one of `EventType` (`rating.set`, ...)                              |
| `time`            | RFC 3339 time the change was made                                   |
| `subject`         | what it is about: `books/<id>`, `reviews/<id>`, `users/<id>`, ...   |
| `datacontenttype` | `application/json`                                                  |
| `dataversion`     | major version of `data`'s schema (`1`); additions keep the version  |
| `recovered`       | `true` on an outbox event re-published without its write confirmed |
| `data`            | JSON object: the ids involved (hex) and the change itself           |

Our worker uses only the ids: it recomputes each aggregate it touches (`targets_of`) from the
source documents, which keeps it exact whatever the rest of an event says, and lets it apply
legacy entries (flat `id`, `type`, `at`, `user_id`, `book_id`, `review_id`, `target_id`,
`target_kind` fields, no change) still in a stream or an outbox from before version 1.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

SPEC_VERSION = "1.0"
DATA_VERSION = "1"
SOURCE = "/bookservice/api"
DATA_CONTENT_TYPE = "application/json"


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

# The ids an event may carry: attribute of `Event`, member of `data`, legacy field.
ID_MEMBERS = (
    ("user_id", "userId"),
    ("book_id", "bookId"),
    ("review_id", "reviewId"),
    ("target_id", "targetId"),
    ("target_kind", "targetKind"),
)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def is_legacy(fields: Mapping[str, Any]) -> bool:
    """An entry written before version 1 (no `specversion`)."""
    return "specversion" not in fields


@dataclass(frozen=True)
class Event:
    type: EventType
    user_id: str
    book_id: str = ""
    review_id: str = ""
    target_id: str = ""
    target_kind: str = ""
    # What changed, beyond the ids: the other members of `data` (stars, shelf, previous, ...).
    change: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    recovered: bool = False

    @property
    def subject(self) -> str:
        if self.type in ENTRY_EVENTS:
            return f"books/{self.book_id}"
        if self.type in LIKE_EVENTS | COMMENT_EVENTS:
            return f"reviews/{self.review_id}"
        return f"{self.target_kind}s/{self.target_id}"

    def data(self) -> dict[str, Any]:
        ids = {member: getattr(self, name) for name, member in ID_MEMBERS}
        return {k: v for k, v in ids.items() if v} | self.change

    def with_change(self, **more: Any) -> "Event":
        """The same event with more of the change known (e.g. `previous` after the write)."""
        return replace(self, change={**self.change, **more})

    def to_fields(self) -> dict[str, str]:
        """The stream entry: CloudEvents attributes as string fields, `data` as JSON text."""
        fields = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": SOURCE,
            "type": self.type.value,
            "time": self.at,
            "subject": self.subject,
            "datacontenttype": DATA_CONTENT_TYPE,
            "dataversion": DATA_VERSION,
        }
        if self.recovered:
            fields["recovered"] = "true"
        fields["data"] = orjson.dumps(self.data()).decode()
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[Any, Any]) -> "Event":
        """Parse a stream entry, version 1 or legacy; ValueError when it is not a valid event."""
        entry = {_text(k): _text(v) for k, v in fields.items()}
        try:
            event = _from_legacy(entry) if is_legacy(entry) else _from_envelope(entry)
        except KeyError as missing:
            raise ValueError(f"event without {missing}") from None
        if not targets_of(event):
            raise ValueError(f"event {event.type} lacks the ids it needs")
        return event


def structured(fields: Mapping[Any, Any]) -> dict[str, Any]:
    """A stream entry in CloudEvents' JSON format (`data` as a JSON value, not text), as
    `books events tail` prints it; a legacy or unreadable entry as its fields."""
    entry = {_text(k): _text(v) for k, v in fields.items()}
    if is_legacy(entry) or "data" not in entry:
        return dict(entry)
    try:
        return {**entry, "data": orjson.loads(entry["data"])}
    except orjson.JSONDecodeError:
        return dict(entry)


def _from_envelope(entry: dict[str, str]) -> Event:
    data = orjson.loads(entry["data"])  # orjson.JSONDecodeError is a ValueError
    if not isinstance(data, dict):
        raise ValueError("event data is not a JSON object")
    ids = {name: data.pop(member, "") for name, member in ID_MEMBERS}
    if not all(isinstance(value, str) for value in ids.values()):
        raise ValueError("event ids must be strings")
    return _event(entry, ids, data, entry.get("time"), entry.get("recovered") == "true")


def _from_legacy(entry: dict[str, str]) -> Event:
    ids = {name: entry.get(name, "") for name, _ in ID_MEMBERS}
    return _event(entry, ids, {}, entry.get("at"), False)


def _event(
    entry: dict[str, str],
    ids: dict[str, str],
    change: dict[str, Any],
    at: str | None,
    recovered: bool,
) -> Event:
    return Event(
        type=EventType(entry["type"]),
        user_id=ids["user_id"],
        book_id=ids["book_id"],
        review_id=ids["review_id"],
        target_id=ids["target_id"],
        target_kind=ids["target_kind"],
        change=change,
        id=entry.get("id") or uuid.uuid4().hex,
        at=at or datetime.now(UTC).isoformat(),
        recovered=recovered,
    )


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
