"""Helpers every repository uses."""

from collections.abc import Iterable
from datetime import UTC, datetime

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from service.batches import in_batches
from service.mongo import Document


def now() -> datetime:
    """Current time at MongoDB's millisecond precision, so cursors round-trip exactly."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


async def docs_by_ids(
    collection: AsyncCollection, ids: Iterable[ObjectId], projection: Document | None = None
) -> dict[ObjectId, Document]:
    """Many documents in one command per IN_BATCH ids, keyed by _id (missing ids are absent)."""
    found = await in_batches(
        ids, lambda batch: collection.find({"_id": {"$in": batch}}, projection).to_list(None)
    )
    return {doc["_id"]: doc for doc in found}


async def exists(collection: AsyncCollection, oid: ObjectId) -> bool:
    return await collection.find_one({"_id": oid}, {"_id": 1}) is not None
