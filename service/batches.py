"""Id lists in `$in` conditions, IN_BATCH ids per command.

The embedded MongoDB (mongoeco on SQLite) turns `{field: {"$in": ids}}` into one SQL expression
whose depth grows with the number of ids; past about 495 ids SQLite refuses it ("Expression
tree is too large (maximum depth 1000)"). A list of ids that can grow with the data (a
reconcile batch, the users a viewer follows, a worker's batch of books) is therefore queried
IN_BATCH ids at a time. On a real MongoDB this costs nothing for the usual short lists (one
batch, one command) and a few commands for long ones. Every `$in` over ids goes through here.
"""

from collections.abc import Awaitable, Callable, Hashable, Iterable

IN_BATCH = 250  # ids per $in: half of what mongoeco on SQLite accepts, whatever else is matched


def id_batches[Id: Hashable](ids: Iterable[Id], size: int = IN_BATCH) -> list[list[Id]]:
    """The distinct ids, in their first order, `size` at a time (none for no ids)."""
    distinct = list(dict.fromkeys(ids))
    return [distinct[start : start + size] for start in range(0, len(distinct), size)]


async def in_batches[Id: Hashable, Result](
    ids: Iterable[Id], run: Callable[[list[Id]], Awaitable[Iterable[Result]]]
) -> list[Result]:
    """`run(batch)` for each batch of `id_batches(ids)`, one after the other (one command each,
    none for no ids); their results concatenated in batch order."""
    found: list[Result] = []
    for batch in id_batches(ids):
        found.extend(await run(batch))
    return found
