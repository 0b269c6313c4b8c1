"""Apply a batch of events: coalesce them into the aggregates they touch and recompute each
aggregate once, however many events of the batch name it."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bson import ObjectId
from bson.errors import InvalidId

from service.events import AggregateKind, Event, targets_of
from service.mongo import Store
from service.repositories.figures import next_sequence
from workers.aggregates import recompute


class PoisonEvent(ValueError):
    """An event that can never be applied (bad ids); retrying will not help."""


def targets_by_kind(events: list[Event]) -> dict[AggregateKind, set[ObjectId]]:
    grouped: dict[AggregateKind, set[ObjectId]] = defaultdict(set)
    for event in events:
        for kind, raw_id in targets_of(event):
            try:
                grouped[kind].add(ObjectId(raw_id))
            except (InvalidId, TypeError) as error:
                raise PoisonEvent(f"event {event.id}: bad {kind} id {raw_id!r}") from error
    return grouped


@dataclass
class Applied:
    books: list[ObjectId] = field(default_factory=list)  # whose figures were recomputed


async def apply_events(store: Store, events: list[Event]) -> Applied:
    """Recompute every aggregate the events touch: a few commands per kind, not per event."""
    grouped = targets_by_kind(events)
    applied = Applied()
    if not grouped:
        return applied
    # One fence number for the batch, taken before any source is read (the figures' fence).
    seq = await next_sequence(store)
    at = datetime.now(UTC)
    for kind, ids in grouped.items():
        written = await recompute(store, kind, sorted(ids), at, seq)
        if kind is AggregateKind.BOOK:
            applied.books = list(written)
    return applied
