"""One extension per operation (never per field): rate limits on mutations by kind, and the
operation's metrics. Refusals happen before execution."""

import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationType
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from schema.selections import fields_of, fragments_of
from service.ratelimit import Bucket, RateLimited

AUTH_MUTATIONS = frozenset({"signUp", "logIn"})


def client_key(viewer_id: object, request: object) -> str:
    """Who a request counts against: the viewer, else the client's address."""
    if viewer_id is not None:
        return f"user:{viewer_id}"
    client = getattr(request, "client", None)
    return f"ip:{client.host if client else 'unknown'}"


def mutation_root_fields(document: DocumentNode, operation_name: str | None) -> list[str]:
    """The root fields the selected mutation runs, one per occurrence (aliases count apart),
    including those reached through inline fragments and fragment spreads; [] for a query."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.MUTATION:
        return []
    selected = fields_of(operation.selection_set, fragments_of(document))
    return [field.name.value for field, _, _ in selected]


def observe_operation(
    context: Any, operation_name: str | None, started: float, errors: Iterable[GraphQLError]
) -> None:
    """The operation's metrics (its time and its errors' codes), when the context has them;
    shared by the guard and schema.direct, which runs a compiled query without it."""
    metrics = getattr(getattr(context, "services", None), "metrics", None)
    if metrics is None:
        return
    codes = [str((e.extensions or {}).get("code", "INTERNAL_SERVER_ERROR")) for e in errors]
    metrics.observe(operation_name, started, codes)


class OperationGuard(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        result = self.execution_context.result
        errors = (
            getattr(result, "errors", None) or self.execution_context.pre_execution_errors or []
        )
        observe_operation(
            self.execution_context.context, self.execution_context.operation_name, started, errors
        )

    def _refuse(self, error: Exception) -> None:
        """Answer with `error` instead of executing the operation."""
        self.execution_context.result = GraphQLExecutionResult(
            data=None, errors=[GraphQLError(str(error), original_error=error)]
        )

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        document = self.execution_context.graphql_document
        limiter = getattr(getattr(context, "services", None), "rate_limiter", None)
        if limiter is not None and document is not None:
            request = getattr(context, "request", None)
            fields = mutation_root_fields(document, self.execution_context.operation_name)
            try:
                for field in fields:
                    if field in AUTH_MUTATIONS:
                        # Per client address even with a token: otherwise each new account's
                        # token would open a fresh budget for password guessing.
                        await limiter.hit(Bucket.AUTH, client_key(None, request))
                    else:
                        await limiter.hit(Bucket.WRITE, client_key(context.viewer_id, request))
            except RateLimited as refused:
                context.http_status = refused.status_code
                context.response_headers["retry-after"] = str(refused.retry_after)
                self._refuse(refused)
        yield
