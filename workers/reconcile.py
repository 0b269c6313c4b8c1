"""Recompute every aggregate from the source documents; report drift and (unless checking)
fix it."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from service.events import AggregateKind
from service.mongo import Document, Store
from service.repositories.figures import (
    COMPUTE,
    Figures,
    next_sequence,
    store_figures,
    stored_in_batches,
)

BATCH = 500


@dataclass(frozen=True)
class Drift:
    kind: AggregateKind
    id: ObjectId
    field: str
    stored: Any
    recomputed: Any

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.id} {self.field}:"
            f" stored {self.stored!r}, recomputed {self.recomputed!r}"
        )


def _stored_value(doc: Document, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _as_figure(stored: Any, expected: Any) -> Any:
    """A figure never written yet reads as zero, like the API shows it."""
    if isinstance(expected, dict) and (stored is None or isinstance(stored, dict)):
        return {k: (stored or {}).get(k, 0) for k in expected}
    if stored is None and expected in (0, [0, 0, 0, 0, 0]):
        return expected
    return stored


def differences(kind: AggregateKind, doc: Document, figures: Figures) -> list[Drift]:
    """The fields of `doc` whose stored value is not the recomputed one (missing counts as 0)."""
    found = []
    for path, expected in figures.items():
        stored = _as_figure(_stored_value(doc, path), expected)
        if stored != expected:
            found.append(Drift(kind, doc["_id"], path, stored, expected))
    return found


async def reconcile(store: Store, *, fix: bool) -> list[Drift]:
    """Every drifted figure across books, reviews, users and authors; fixed when `fix`."""
    drifts: list[Drift] = []
    at = datetime.now(UTC)
    for kind, compute in COMPUTE.items():
        async for docs in stored_in_batches(store, kind, BATCH):
            # Fenced like the worker's writes: a fix never overwrites fresher figures.
            seq = await next_sequence(store) if fix else None
            figures = await compute(store, [d["_id"] for d in docs])
            drifted: dict[ObjectId, Figures] = {}
            for doc in docs:
                found = differences(kind, doc, figures[doc["_id"]])
                if found:
                    drifts.extend(found)
                    drifted[doc["_id"]] = figures[doc["_id"]]
            if seq is not None and drifted:
                await store_figures(store, kind, drifted, at, seq)
    return drifts
