"""Authors: existence checks (reads go through the shared by-id loader)."""

from bson import ObjectId

from service.errors import NotFound
from service.mongo import Store
from service.repositories.common import exists


async def require(store: Store, author_id: ObjectId) -> None:
    if not await exists(store.authors, author_id):
        raise NotFound("no author has this id", field="authorId")
