"""GraphQL over HTTP and WebSocket on Starlette: a context per request, orjson responses,
automatic persisted queries, the anonymous response cache, and the
`application/graphql-response+json` rules (request errors are HTTP 400 without data)."""

import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from schema.context import Context
from schema.definition import BookSchema
from schema.errors import classify
from schema.guard import client_key
from schema.loaders import Loaders
from schema.operations import operation_type
from service.auth import bearer_token, read_token
from service.errors import BadUserInput, ServiceError, ServiceUnavailable
from service.logs import request_id_var
from service.ratelimit import Bucket, RateLimited
from service.services import Services

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"

# GraphiQL built from pinned npm packages by web/graphiql (`make graphiql`) and committed, so
# that the IDE loads nothing from a CDN; served at /graphiql outside production mode.
GRAPHIQL_DIR = Path(__file__).resolve().parent.parent / "app" / "static" / "graphiql"


def _wants_graphql_response(request: Request) -> bool:
    return GRAPHQL_RESPONSE_JSON in request.headers.get("accept", "")


def _persisted_hash(extensions: dict[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if not isinstance(persisted, dict):
        return None
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or len(digest) != 64:
        raise BadUserInput(
            "extensions.persistedQuery.sha256Hash must be a SHA-256 hex digest",
            field="extensions.persistedQuery.sha256Hash",
        )
    return digest


# The members of one GraphQL-over-HTTP request object and the JSON types each may have.
_REQUEST_MEMBERS: dict[str, type] = {
    "query": str,
    "operationName": str,
    "variables": dict,
    "extensions": dict,
}


def _check_request_shape(data: object) -> None:
    """A 400 for a JSON body that is not a request object or a list of them, or whose members
    have the wrong JSON types (strawberry assumes objects and strings and would fail with a 500)."""
    items = data if isinstance(data, list) else [data]
    for item in items:
        if not isinstance(item, dict):
            raise HTTPException(400, "the body must be a JSON object or a list of JSON objects")
        for member, kind in _REQUEST_MEMBERS.items():
            value = item.get(member)
            if value is not None and not isinstance(value, kind):
                expected = "a string" if kind is str else "an object"
                raise HTTPException(400, f"`{member}` must be {expected} or null, if provided")


def _error_result(error: ServiceError, context: Context) -> ExecutionResult:
    graphql_error = GraphQLError(error.message, original_error=error)
    classify(graphql_error, context.request_id)
    return ExecutionResult(data=None, errors=[graphql_error])


class GraphQLApp(GraphQL[Context, None]):
    loaders_class: type[Loaders] = Loaders  # per-request DataLoaders (the bench swaps them)

    def __init__(self, schema: BookSchema, *, graphiql: bool = True) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return FileResponse(GRAPHIQL_DIR / "index.html", media_type="text/html")

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        services: Services = request.app.state.services
        token = bearer_token(request.headers.get("authorization"))
        viewer = read_token(token, services.jwt_secret) if token else None
        context = Context(
            services=services,
            viewer_id=viewer,
            loaders=self.loaders_class(services.store, viewer),
            request=request,
            response=response,
            credentials_sent=token is not None,
        )
        request_id_var.set(context.request_id)
        if isinstance(request, Request):
            request.state.graphql_context = context
        return context

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        # orjson refuses invalid UTF-8, lone surrogates and nesting deeper than 1024 with a
        # JSONDecodeError (a 400); json.loads would raise UnicodeDecodeError or RecursionError.
        return orjson.loads(data)

    async def parse_http_body(self, request: Any) -> Any:
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and "application/json" in content_type:
            _check_request_shape(self.parse_json(await request.get_body()))
        return await super().parse_http_body(request)

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        persisted = context.services.persisted
        try:
            digest = _persisted_hash(request_data.extensions)
            if digest is not None:
                request_data.query = await persisted.resolve(request_data.query, digest)
            elif request_data.query is not None:
                await persisted.check_plain(request_data.query)
        except ServiceError as refused:
            return _error_result(refused, context)
        except (RedisError, OSError):
            unavailable = ServiceUnavailable("persisted queries are unavailable; send the document")
            return _error_result(unavailable, context)
        if request_data.query is not None and context.viewer_id is None:
            kind = operation_type(request_data.query, request_data.operation_name)
            request.state.cacheable = kind is OperationType.QUERY and not context.credentials_sent
        return await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response: dict[str, Any] = {}
        errors = result.errors or []
        is_request_error = (
            result.data is None and bool(errors) and all(e.path is None for e in errors)
        )
        if errors:
            response["errors"] = [e.formatted for e in errors]
            request.state.cacheable = False
        if not is_request_error:
            response["data"] = result.data
        elif _wants_graphql_response(request) and not getattr(request.state, "graphql_status", 0):
            request.state.graphql_status = 400
        if result.extensions:
            response["extensions"] = result.extensions
        context = getattr(request.state, "graphql_context", None)
        if errors and context is not None:
            response.setdefault("extensions", {})["requestId"] = context.request_id
        return response  # type: ignore[return-value]

    async def run(
        self, request: Request | WebSocket, context: Any = None, root_value: Any = None
    ) -> Any:
        if not isinstance(request, Request):
            return await super().run(request, UNSET, UNSET)
        services: Services = request.app.state.services
        if services.rate_limiter is not None:
            try:
                await services.rate_limiter.hit(Bucket.READ, client_key_of(request, services))
            except RateLimited as refused:
                return _rate_limited_response(refused)
        cache_key, epoch = await self._cached(request, services)
        if cache_key and isinstance(epoch, Response):
            return epoch
        try:
            response = await super().run(request, UNSET, UNSET)
        except HTTPException as e:
            # GraphQL over HTTP: a mutation sent with GET gets 405 Method Not Allowed.
            if request.method == "GET" and isinstance(e.__cause__, InvalidOperationTypeError):
                return PlainTextResponse(e.reason, status_code=405, headers={"allow": "GET, POST"})
            raise
        if not isinstance(response, Response):
            return response
        status = getattr(request.state, "graphql_status", None)
        if status:
            response.status_code = status
        if _wants_graphql_response(request) and response.media_type == "application/json":
            response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
        context_obj = getattr(request.state, "graphql_context", None)
        if context_obj is not None:
            response.headers["x-request-id"] = context_obj.request_id
        if (
            cache_key
            and services.response_cache is not None
            and response.status_code == 200
            and getattr(request.state, "cacheable", False)
        ):
            await services.response_cache.put(cache_key, epoch, bytes(response.body))
        return response

    async def _cached(self, request: Request, services: Services) -> tuple[str | None, Any]:
        """(key, epoch) for a cacheable request; (key, Response) on a hit; (None, b"") else."""
        cache = services.response_cache
        if (
            cache is None
            or request.headers.get("authorization")
            or request.method
            not in (
                "GET",
                "POST",
            )
        ):
            return None, b""
        if "text/html" in request.headers.get("accept", ""):
            return None, b""
        try:
            if request.method == "GET":
                params = request.query_params
                variables = params.get("variables")
                body = {
                    "query": params.get("query"),
                    "variables": orjson.loads(variables) if variables else None,
                    "operationName": params.get("operationName"),
                    "extensions": orjson.loads(params["extensions"])
                    if params.get("extensions")
                    else None,
                }
            else:
                body = orjson.loads(await request.body())
        except (orjson.JSONDecodeError, ValueError):
            return None, b""
        if not isinstance(body, dict):
            return None, b""
        document = body.get("query")
        extensions = body.get("extensions") or {}
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        identity = persisted.get("sha256Hash") if isinstance(persisted, dict) else document
        if not isinstance(identity, str):
            return None, b""
        media = GRAPHQL_RESPONSE_JSON if _wants_graphql_response(request) else "application/json"
        try:
            key = cache.key_of(identity, [body.get("variables"), media], body.get("operationName"))
        except orjson.JSONEncodeError:  # e.g. variables nested deeper than orjson writes
            return None, b""
        started = time.perf_counter()
        cached, epoch = await cache.get(key)
        if cached is not None:
            # Served without executing: still an operation of its name in the metrics.
            name = body.get("operationName")
            name = _operation_name(
                document if isinstance(document, str) else None,
                name if isinstance(name, str) else None,
            )
            services.metrics.observe(name, started, [])
            return key, Response(cached, media_type=media, headers={"x-cache": "hit"})
        return key, epoch


@lru_cache(maxsize=1024)
def _operation_name(document: str | None, operation_name: str | None) -> str | None:
    """The name an executed operation gets in the metrics: the requested one, else the first
    operation's (None for a hash-only persisted query, whose document is not at hand). Cached:
    a response-cache hit without `operationName` would otherwise parse the document."""
    if operation_name or document is None:
        return operation_name
    try:
        parsed = parse(document)
    except GraphQLError:
        return None
    for definition in parsed.definitions:
        if isinstance(definition, OperationDefinitionNode):
            return definition.name.value if definition.name else None
    return None


def client_key_of(request: Request, services: Services) -> str:
    """The rate-limit identity of an HTTP request: the token's user, else the address."""
    token = bearer_token(request.headers.get("authorization"))
    return client_key(read_token(token, services.jwt_secret) if token else None, request)


def _rate_limited_response(refused: RateLimited) -> JSONResponse:
    body = {"errors": [{"message": refused.message, "extensions": refused.extensions}]}
    return JSONResponse(
        body, status_code=refused.status_code, headers={"retry-after": str(refused.retry_after)}
    )
