"""GraphQL over WebSocket at /graphql: Strawberry's graphql-transport-ws handler, as the
standard clients (graphql-ws, and through it Apollo Client, urql and Relay) expect it:

- only pages on the API's own origin or on `CORS_ORIGINS` may connect (a client without an
  Origin, i.e. not a browser, always may);
- every message is a text frame (graphql-ws and browsers' WebSocket read binary frames as
  Blobs and fail with "Message is missing the 'type' property");
- the viewer comes from `connection_init`'s `payload.authorization` ("Bearer <token>"; the key
  in any case, as clients copy the HTTP header's name `Authorization`), the only place a
  browser can put it, else from the upgrade request's Authorization header; an
  invalid or expired token in the payload closes the socket with 4403 Forbidden;
- with PERSISTED_QUERIES_ONLY, an operation whose text is not a registered document's exact
  text is answered with an `error` message and never runs (over HTTP the transport checks
  before anything runs; here Strawberry's handler would go straight to execution);
- every operation counts against the READ rate limit, as every HTTP request does (mutations
  also against theirs, in schema.guard); a refusal is an `error` message with RATE_LIMITED;
- messages are at most MAX_BODY_BYTES, as HTTP bodies (uvicorn's `ws_max_size`, set by
  `books serve`: a larger one closes the socket with 1009, "message too big").
"""

from typing import Any

import orjson
from graphql import GraphQLError
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage
from strawberry.types.unset import UNSET, UnsetType

from schema.context import Context, Viewer
from schema.definition import BookSchema
from schema.guard import client_key
from schema.loaders import Loaders
from service.errors import ServiceError, ServiceUnavailable
from service.logs import request_id_var
from service.ratelimit import Bucket
from service.services import Services


class TrustedDocumentsHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged:
            try:
                await self._admit(message)
            except (ServiceError, RedisError, OSError) as refused:
                if not isinstance(refused, ServiceError):
                    refused = ServiceUnavailable("registered documents cannot be checked now")
                error = GraphQLError(refused.message, extensions=refused.extensions)
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [error.formatted]}
                )
                return
        await super().handle_subscribe(message)

    async def _admit(self, message: SubscribeMessage) -> None:
        """What an operation must pass before it runs: the READ rate limit (each operation
        counts, as each HTTP request does), then the registered documents."""
        services = self.context.services
        if services.rate_limiter is not None:
            who = client_key(self.context.viewer_id, self.context.request)
            await services.rate_limiter.hit(Bucket.READ, who)
        if services.persisted.only_persisted:
            await services.persisted.resolve(message["payload"].get("query"), None)


class GraphQLWebSocket(GraphQL[Context, None]):
    loaders_class: type[Loaders] = Loaders
    graphql_transport_ws_handler_class = TrustedDocumentsHandler

    def __init__(self, schema: BookSchema, allowed_origins: list[str]) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            allowed_origins=tuple(allowed_origins),
        )

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        services: Services = request.app.state.services
        viewer = Viewer.from_authorization(
            request.headers.get("authorization"), services.jwt_secret
        )
        context = Context(
            services=services,
            viewer=viewer,
            loaders=self.loaders_class(services.store, viewer.id),
            request=request,
        )
        request_id_var.set(context.request_id)
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        authorization = _authorization_of(context.connection_params)
        if authorization is None or authorization == "":  # anonymous (clients send "" too)
            return UNSET
        if not isinstance(authorization, str):
            raise ConnectionRejectionError()
        viewer = Viewer.from_authorization(authorization, context.services.jwt_secret)
        if viewer.id is None:
            raise ConnectionRejectionError()  # graphql-transport-ws: close 4403 Forbidden
        context.set_viewer(viewer)
        return UNSET

    def encode_json(self, data: object) -> str:
        return orjson.dumps(data).decode()


def _authorization_of(params: object) -> object:
    """The `authorization` entry of a connection_init payload, its key compared without case
    (HTTP header names have none, and clients often send `Authorization`); None when absent."""
    if not isinstance(params, dict):
        return None
    for key, value in params.items():
        if isinstance(key, str) and key.lower() == "authorization":
            return value
    return None
