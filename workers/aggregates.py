"""Recompute aggregate figures from the source documents and store them, fenced
(service.repositories.figures explains the fence).

Every handler of the pipeline ends here: figures are derived from the sources, never
incremented, so applying an event twice or out of order cannot make them wrong. The worker and
the reconciler are the only writers of stored figures.
"""

from collections.abc import Iterable
from datetime import datetime

from bson import ObjectId

from service.events import AggregateKind
from service.mongo import Store
from service.repositories.figures import COMPUTE, Figures, next_sequence, store_figures


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
    figures = await COMPUTE[kind](store, wanted)
    await store_figures(store, kind, figures, at, seq)
    return figures
