"""deleteComment: only the comment's author may delete it."""

import strawberry

from schema.context import Info, require_viewer
from service.ids import from_global_id
from service.repositories import social


async def delete_comment(info: Info, id: strawberry.ID) -> bool:
    viewer = await require_viewer(info)
    comment = from_global_id(id, "Comment", "id")
    services = info.context.services
    await social.delete_comment(services.store, services.publisher, viewer, comment)
    return True
