"""GraphQL over HTTP and WebSocket on Starlette: context per request, orjson responses, and
the `application/graphql-response+json` rules (request errors are HTTP 400 without data)."""

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from schema.context import Context
from schema.definition import BookSchema
from schema.loaders import Loaders
from service.auth import bearer_token, read_token
from service.services import Services

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


def _wants_graphql_response(request: Request) -> bool:
    return GRAPHQL_RESPONSE_JSON in request.headers.get("accept", "")


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, schema: BookSchema, *, graphiql: bool = True) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        services: Services = request.app.state.services
        token = bearer_token(request.headers.get("authorization"))
        viewer = read_token(token, services.jwt_secret) if token else None
        context = Context(
            services=services,
            viewer_id=viewer,
            loaders=Loaders(services.store, viewer),
            request=request,
            response=response,
            credentials_sent=token is not None,
        )
        if isinstance(request, Request):
            request.state.graphql_context = context
        return context

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response: dict[str, Any] = {}
        is_request_error = result.data is None and bool(result.errors) and all(
            e.path is None for e in result.errors or []
        )
        if result.errors:
            response["errors"] = [e.formatted for e in result.errors]
        if not is_request_error:
            response["data"] = result.data
        elif _wants_graphql_response(request):
            request.state.graphql_status = 400
        if result.extensions:
            response["extensions"] = result.extensions
        context = getattr(request.state, "graphql_context", None)
        if result.errors and context is not None:
            response.setdefault("extensions", {})["requestId"] = context.request_id
        return response  # type: ignore[return-value]

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        return response

    async def run(self, request: Any, context: Any = None, root_value: Any = None) -> Any:  # type: ignore[override]
        from strawberry.types.unset import UNSET

        try:
            response = await super().run(
                request,
                UNSET if context is None else context,
                UNSET if root_value is None else root_value,
            )
        except HTTPException as e:
            # GraphQL over HTTP: a mutation sent with GET gets 405 Method Not Allowed (not 400).
            if isinstance(request, Request) and request.method == "GET" and isinstance(
                e.__cause__, InvalidOperationTypeError
            ):
                return PlainTextResponse(e.reason, status_code=405, headers={"allow": "GET, POST"})
            raise
        if isinstance(request, Request) and isinstance(response, Response):
            status = getattr(request.state, "graphql_status", None)
            if status:
                response.status_code = status
            if _wants_graphql_response(request) and response.media_type == "application/json":
                response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
        return response
