"""One extension per operation (never per field): rate limits on mutations by kind, and the
operation's metrics. Refusals happen before execution."""

import time
from collections.abc import Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from schema.operations import mutation_fields
from service.ratelimit import Bucket, RateLimited

AUTH_MUTATIONS = frozenset({"signUp", "logIn"})


def client_key(viewer_id: object, request: object) -> str:
    """Who a request counts against: the viewer, else the client's address."""
    if viewer_id is not None:
        return f"user:{viewer_id}"
    client = getattr(request, "client", None)
    return f"ip:{client.host if client else 'unknown'}"


class OperationGuard(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context.context
        services = getattr(context, "services", None)
        metrics = getattr(services, "metrics", None)
        if metrics is None:
            return
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or self.execution_context.pre_execution_errors or []
        codes = [str((e.extensions or {}).get("code", "INTERNAL_SERVER_ERROR")) for e in errors]
        metrics.observe(self.execution_context.operation_name, started, codes)

    async def on_execute(self):  # type: ignore[no-untyped-def]
        context = self.execution_context.context
        limiter = getattr(getattr(context, "services", None), "rate_limiter", None)
        query = self.execution_context.query
        if limiter is not None and query:
            fields = mutation_fields(query, self.execution_context.operation_name)
            try:
                for field in fields:
                    bucket = Bucket.AUTH if field in AUTH_MUTATIONS else Bucket.WRITE
                    await limiter.hit(bucket, client_key(context.viewer_id, context.request))
            except RateLimited as refused:
                response = getattr(context, "response", None)
                if response is not None and hasattr(response, "headers"):
                    response.headers["retry-after"] = str(refused.retry_after)
                request = getattr(context, "request", None)
                if request is not None and hasattr(request, "state"):
                    request.state.graphql_status = 429
                self.execution_context.result = GraphQLExecutionResult(
                    data=None, errors=[GraphQLError(refused.message, original_error=refused)]
                )
        yield
