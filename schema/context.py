"""What every resolver gets: the process's services, the viewer and per-request loaders."""

import uuid
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from strawberry.types import Info as StrawberryInfo

from schema.loaders import Loaders
from service.errors import Unauthenticated
from service.services import Services


@dataclass
class Context:
    services: Services
    viewer_id: ObjectId | None
    loaders: Loaders
    request: Any = None
    response: Any = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    credentials_sent: bool = False


Info = StrawberryInfo[Context, None]


def require_viewer(info: Info) -> ObjectId:
    viewer = info.context.viewer_id
    if viewer is None:
        if info.context.credentials_sent:
            raise Unauthenticated("the token is invalid or expired; log in again")
        raise Unauthenticated("this operation needs a logged-in viewer (Authorization: Bearer)")
    return viewer
