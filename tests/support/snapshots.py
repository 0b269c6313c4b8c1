"""What is stored, to prove that a refused request wrote nothing: every document of every
collection (a stable hash of each, by id) and every entry of the event stream. Counts alone
would miss a refused request that modified an existing document."""

import hashlib
from typing import Any

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS

from tests.support.app import AppUnderTest


def document_hash(doc: dict[str, Any]) -> str:
    """A hash of the document's content that keeps BSON types (an int 1 is not a float 1.0,
    a datetime not its string) and ignores field order."""
    canonical = json_util.dumps(doc, sort_keys=True, json_options=CANONICAL_JSON_OPTIONS)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


async def snapshot(app: AppUnderTest) -> dict[str, Any]:
    """{"documents": {collection: {id: hash}}, "stream": [(entry id, fields)]}: compare two
    with ==, and pytest's diff names the collection and the document that changed."""
    db = app.services.store.db
    documents: dict[str, dict[str, str]] = {}
    for name in sorted(await db.list_collection_names()):
        documents[name] = {str(doc["_id"]): document_hash(doc) async for doc in db[name].find({})}
    return {"documents": documents, "stream": await stream_events(app)}


async def stream_events(app: AppUnderTest) -> list[tuple[str, dict[str, str]]]:
    """Every entry of the event stream as (entry id, decoded fields)."""
    entries = await app.services.redis.xrange(app.settings.stream_key)
    return [
        (entry_id.decode(), {k.decode(): v.decode() for k, v in fields.items()})
        for entry_id, fields in entries
    ]
