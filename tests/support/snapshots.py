"""What is stored, to prove that a refused request wrote nothing."""

from tests.support.app import AppUnderTest

COLLECTIONS = (
    "books",
    "authors",
    "users",
    "reviews",
    "likes",
    "comments",
    "follows",
    "outbox",
    "meta",
)


async def snapshot(app: AppUnderTest) -> dict[str, int]:
    """Document counts of every collection and the length of the event stream."""
    db = app.services.store.db
    counts = {name: await db[name].count_documents({}) for name in COLLECTIONS}
    counts["stream"] = await app.services.redis.xlen(app.settings.stream_key)
    return counts


async def stream_events(app: AppUnderTest) -> list[tuple[str, dict[str, str]]]:
    """Every entry of the event stream as (entry id, decoded fields)."""
    entries = await app.services.redis.xrange(app.settings.stream_key)
    return [
        (entry_id.decode(), {k.decode(): v.decode() for k, v in fields.items()})
        for entry_id, fields in entries
    ]
