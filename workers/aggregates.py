"""Recompute aggregate figures from the source documents and store them, fenced.

Every handler of the pipeline ends here: figures are derived from the sources (computed by
service.repositories.figures), never incremented, so applying an event twice or out of order
cannot make them wrong. This module is the only writer of stored figures.

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
from service.mongo import Store
from service.repositories.figures import (
    Figures,
    author_figures,
    book_figures,
    review_figures,
    user_figures,
)

SEQUENCE_ID = "aggregates_seq"  # the counter's document in the `meta` collection
SEQUENCE_FIELD = "aggregates_seq"  # on an aggregate document: the number its figures were read at


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
