"""What every resolver gets: the process's services, the viewer and per-request loaders, plus
what the transport and the execution tell each other about one request (its parsed document,
an HTTP status or header an extension decided)."""

from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from graphql import DocumentNode
from strawberry.types import Info as StrawberryInfo

from schema.loaders import Loaders
from service.auth import bearer_token, read_token
from service.errors import Unauthenticated
from service.logs import new_request_id
from service.services import Services


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who sent a request: the token's user (None when anonymous or the token is invalid)."""

    id: ObjectId | None
    credentials_sent: bool

    @classmethod
    def from_authorization(cls, authorization: str | None, secret: str) -> "Viewer":
        """One token check per request (or per WebSocket connection)."""
        token = bearer_token(authorization)
        if token is None:
            return ANONYMOUS
        return cls(read_token(token, secret), credentials_sent=True)

    @property
    def rejected(self) -> bool:
        """Credentials were sent and are invalid or expired."""
        return self.credentials_sent and self.id is None


ANONYMOUS = Viewer(None, credentials_sent=False)


@dataclass
class Context:
    services: Services
    viewer: Viewer
    loaders: Loaders
    request: Any = None
    request_id: str = field(default_factory=new_request_id)
    # Set by the HTTP transport: the documents it parsed, by text (schema.documents).
    parsed: dict[str, DocumentNode] = field(default_factory=dict)
    # Set by extensions for the HTTP response (a rate-limit refusal is 429 with Retry-After).
    http_status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    # Set by Strawberry's graphql-transport-ws handler: the connection_init payload.
    connection_params: Any = None

    @property
    def viewer_id(self) -> ObjectId | None:
        return self.viewer.id

    def set_viewer(self, viewer: Viewer) -> None:
        """Another viewer for the rest of the connection (graphql-transport-ws's
        connection_init): its loaders must not serve what the previous viewer saw."""
        self.viewer = viewer
        self.renew_loaders()

    def renew_loaders(self) -> None:
        """Empty loaders: a WebSocket connection has one context for its lifetime, and each
        subscription push must read fresh documents, not those cached at the first one."""
        self.loaders = type(self.loaders)(self.services.store, self.viewer.id)


Info = StrawberryInfo[Context, None]


async def require_viewer(info: Info) -> ObjectId:
    """The viewer's id, once their user is known to exist: a correctly signed token outlives a
    user deleted outside the API (or lost in a restored database), and must not write for
    nobody. The user is read through the request's loader, so a request that shows the viewer
    (or the viewer's reviews) reads it once."""
    viewer = info.context.viewer
    if viewer.id is None:
        if viewer.credentials_sent:
            raise Unauthenticated("the token is invalid or expired; log in again")
        raise Unauthenticated("this operation needs a logged-in viewer (Authorization: Bearer)")
    if await info.context.loaders.user.load(viewer.id) is None:
        raise Unauthenticated("the token's user no longer exists; sign up or log in again")
    return viewer.id
