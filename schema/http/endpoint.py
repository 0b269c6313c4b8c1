"""GraphQL over HTTP at /graphql, as one explicit pipeline per request:

1. read: the body is read and decoded once, its shape checked (schema.http.requests);
2. viewer: the bearer token is checked once;
3. read rate limit, per request;
4. per operation: the document (persisted-query hash or text), parsed once through the shared
   cache; GET may not mutate (405), subscriptions go over WebSocket;
5. the anonymous response cache, for a single query (scoped to its book when it shows one
   book only: schema.cache_scope);
6. execution (Strawberry's schema: validation, limits, mutation rate limits, metrics);
7. the response: GraphQL over HTTP's status rules for `application/graphql-response+json`,
   the request id, a rate limit's status and Retry-After, and the cache and persisted-query
   writes for what proved valid.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, OperationType
from redis.exceptions import RedisError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperation

from schema.cache_scope import BookScopes
from schema.context import Context, Viewer
from schema.definition import BookSchema
from schema.direct import DirectExecution
from schema.documents import selected_operation
from schema.errors import classify
from schema.guard import client_key
from schema.http.requests import OperationRequest, read_operations
from schema.http.responses import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    JSONBody,
    RequestRefused,
    error_body,
)
from schema.loaders import Loaders
from service.errors import BadUserInput, ServiceError, ServiceUnavailable
from service.logs import new_request_id, request_id_var
from service.ratelimit import Bucket, RateLimited
from service.services import Services

log = logging.getLogger(__name__)

Body = dict[str, Any]
# What Strawberry may run per method (a second guard: the pipeline refuses the rest first).
GET_OPERATIONS = (StrawberryOperation.QUERY,)
POST_OPERATIONS = (StrawberryOperation.QUERY, StrawberryOperation.MUTATION)


def _media_type(request: Request) -> str:
    """The response's media type: graphql-response+json when the client accepts it."""
    accepted = request.headers.get("accept", "")
    return GRAPHQL_RESPONSE_JSON if GRAPHQL_RESPONSE_JSON in accepted else JSON


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


@dataclass
class Outcome:
    """What one operation produced: its response body and what it asks of the response."""

    body: Body
    request_error: bool = False  # no data: the request itself was at fault
    cached: bytes | None = None  # a response-cache hit: the body as it was sent before
    cache_slot: tuple[str, bytes] | None = None  # (key, epoch) to cache this body under


def _error_outcome(error: ServiceError | GraphQLError, context: Context) -> Outcome:
    graphql_error = (
        error
        if isinstance(error, GraphQLError)
        else GraphQLError(error.message, original_error=error)
    )
    classify(graphql_error, context.request_id)
    return _outcome(ExecutionResult(data=None, errors=[graphql_error]), context)


def _outcome(result: ExecutionResult, context: Context) -> Outcome:
    body: Body = {}
    errors = result.errors or []
    request_error = result.data is None and bool(errors) and all(e.path is None for e in errors)
    if errors:
        body["errors"] = [e.formatted for e in errors]
    if not request_error:
        body["data"] = result.data
    if result.extensions:
        body["extensions"] = dict(result.extensions)
    if errors:
        body.setdefault("extensions", {})["requestId"] = context.request_id
    return Outcome(body, request_error=request_error)


def no_operation_message(document: DocumentNode, op: OperationRequest) -> str:
    """Why no operation can be chosen, in graphql-core's validation words."""
    if op.operation_name:
        return f"Unknown operation named '{op.operation_name}'."
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations:
        return "The document holds no operation to run."
    if any(o.name is None for o in operations):
        return "This anonymous operation must be the only defined operation."
    return "Must provide operation name if query contains multiple operations."


class GraphQLEndpoint:
    """The HTTP side of /graphql (the WebSocket side is schema.websocket)."""

    loaders_class: type[Loaders] = Loaders  # per-request DataLoaders (a configuration point)

    def __init__(self, schema: BookSchema, graphiql: Response | None = None) -> None:
        self.schema = schema
        self.graphiql = graphiql
        self.scopes = BookScopes(schema._schema)
        self.direct = DirectExecution.of(schema)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.handle(request)
        except ClientDisconnect:
            # The client went away before sending its whole body: an everyday event for a
            # public service (and what a slow client timed out looks like), not an error.
            log.info("client disconnected before sending its whole request")
            return
        await response(scope, receive, send)

    def _wants_graphiql(self, request: Request) -> bool:
        return (
            self.graphiql is not None
            and request.method == "GET"
            and "text/html" in request.headers.get("accept", "")
            and "query" not in request.query_params
        )

    async def handle(self, request: Request) -> Response:
        if self._wants_graphiql(request):
            assert self.graphiql is not None
            return self.graphiql
        services: Services = request.app.state.services
        media = _media_type(request)
        request_id = new_request_id()
        request_id_var.set(request_id)
        try:
            operations, batched = await read_operations(
                request, services.settings.max_batch_operations
            )
            viewer = Viewer.from_authorization(
                request.headers.get("authorization"), services.jwt_secret
            )
            await self._check_read_limit(services, viewer, request)
        except RequestRefused as refused:
            return refused.response(media, request_id)
        context = Context(
            services=services,
            viewer=viewer,
            loaders=self.loaders_class(services.store, viewer.id),
            request=request,
            request_id=request_id,
        )
        if batched:
            bodies = await asyncio.gather(
                *(self._run_in_batch(request, context, op, media) for op in operations)
            )
            return self._respond(list(bodies), context, media, request_error=False)
        try:
            outcome = await self._run(request, context, operations[0], media, cache=True)
        except RequestRefused as refused:
            return refused.response(media, request_id)
        if outcome.cached is not None:
            headers = {"x-request-id": request_id, "x-cache": "hit"}
            return Response(outcome.cached, 200, headers, media)
        response = self._respond(outcome.body, context, media, outcome.request_error)
        if outcome.cache_slot is not None and response.status_code == 200:
            assert services.response_cache is not None
            key, epoch = outcome.cache_slot
            await services.response_cache.put(key, epoch, bytes(response.body))
        return response

    async def _check_read_limit(self, services: Services, viewer: Viewer, request: Request) -> None:
        if services.rate_limiter is None:
            return
        try:
            await services.rate_limiter.hit(Bucket.READ, client_key(viewer.id, request))
        except RateLimited as refused:
            headers = {"retry-after": str(refused.retry_after)}
            raise RequestRefused(refused.status_code, refused, headers) from None

    def _respond(
        self, body: Body | list[Body], context: Context, media: str, request_error: bool
    ) -> Response:
        status = context.http_status or (
            400 if request_error and media == GRAPHQL_RESPONSE_JSON else 200
        )
        headers = {"x-request-id": context.request_id, **context.response_headers}
        return JSONBody(body, status, headers, media)

    async def _run_in_batch(
        self, request: Request, context: Context, op: OperationRequest, media: str
    ) -> Body:
        """One operation of a batch: a refusal answers that operation, not the batch."""
        try:
            return (await self._run(request, context, op, media, cache=False)).body
        except RequestRefused as refused:
            return error_body(refused.error, context.request_id)

    async def _run(
        self, request: Request, context: Context, op: OperationRequest, media: str, *, cache: bool
    ) -> Outcome:
        """One operation through the pipeline's steps 4 to 7."""
        services = context.services
        try:
            resolved = await services.persisted.resolve(op.query, _persisted_hash(op.extensions))
        except ServiceError as refused:
            return _error_outcome(refused, context)
        except (RedisError, OSError):
            unavailable = ServiceUnavailable("persisted queries are unavailable; send the document")
            return _error_outcome(unavailable, context)
        text = resolved.document
        if text is None:
            raise RequestRefused(400, BadUserInput("no GraphQL query found in the request"))
        try:
            document = self.schema.documents.parse(text)
        except GraphQLError as syntax_error:
            return _error_outcome(syntax_error, context)
        operation = selected_operation(document, op.operation_name)
        if operation is None:
            return _error_outcome(BadUserInput(no_operation_message(document, op)), context)
        kind = operation.operation
        if kind is OperationType.SUBSCRIPTION:
            over_http = BadUserInput(
                "subscriptions are served over WebSocket (graphql-transport-ws)"
            )
            return _error_outcome(over_http, context)
        if kind is OperationType.MUTATION and request.method == "GET":
            # GraphQL over HTTP: "the server MUST respond with error status code 405 (Method Not
            # Allowed) and halt execution".
            over_get = BadUserInput("mutations are not accepted over GET: use POST")
            raise RequestRefused(405, over_get, {"allow": "GET, POST"})

        response_cache = services.response_cache if cache else None
        cache_slot = None
        if (
            response_cache is not None
            and kind is OperationType.QUERY
            and not context.viewer.credentials_sent
        ):
            started = time.perf_counter()
            key = response_cache.key_of(text, [op.variables, media], op.operation_name)
            if key is not None:
                book = self.scopes.book_of(document, operation, op.variables)
                cached, epoch = await response_cache.get(key, book)
                if cached is not None:
                    # Served without executing: still an operation of its name in the metrics.
                    name = operation.name.value if operation.name else None
                    services.metrics.observe(name, started, [])
                    return Outcome({}, cached=cached)
                cache_slot = (key, epoch)

        direct = self.direct
        if direct is not None and direct.covers(operation):
            # A compiled query: the extension runner would decide nothing (schema.direct).
            result = await direct.execute(
                document, operation, context, op.variables, op.operation_name, op.extensions
            )
        else:
            context.parsed[text] = document
            result = await self.schema.execute(
                text,
                variable_values=op.variables,
                context_value=context,
                operation_name=op.operation_name,
                allowed_operation_types=(
                    GET_OPERATIONS if request.method == "GET" else POST_OPERATIONS
                ),
                operation_extensions=op.extensions,
            )
        outcome = _outcome(result, context)
        if resolved.register_as is not None and not outcome.request_error:
            await services.persisted.remember(resolved.register_as, text)
        if cache_slot is not None and not result.errors:
            outcome.cache_slot = cache_slot
        return outcome
