"""The schema object: Query, Mutation and Subscription, error classification, and the
per-operation extensions (limits, rate limits, metrics, caches) configured from settings."""

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext

from schema.compiled import CompiledExecutionContext
from schema.documents import DocumentCache, ParsedDocument
from schema.errors import classify
from schema.execution import PlannedExecutionContext
from schema.guard import OperationGuard
from schema.limits import Limits
from schema.mutations.root import Mutation
from schema.query import Query
from schema.subscription import Subscription
from schema.types.author import Author
from schema.types.book import Book
from schema.types.comment import Comment
from schema.types.review import Review
from schema.types.user import User
from schema.validation_cache import DocumentValidationCache
from service.settings import Settings

CACHE_SIZE = 1024
# Settings.execution -> the executor class graphql-core runs operations with.
EXECUTION_CONTEXTS: dict[str, type[StrawberryGraphQLCoreExecutionContext]] = {
    "compiled": CompiledExecutionContext,
    "planned": PlannedExecutionContext,
    "stock": StrawberryGraphQLCoreExecutionContext,
}


class BookSchema(strawberry.Schema):
    # The one parse cache of the process: the HTTP transport and the execution share it.
    documents: DocumentCache

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context: Any = execution_context.context if execution_context else None
        request_id = getattr(context, "request_id", "-")
        for error in errors:
            classify(error, request_id)


# Builds the per-operation extensions from the settings and the process's parse cache.
ExtensionsFor = Callable[[Settings, DocumentCache], list[Any]]


def operation_extensions(settings: Settings, documents: DocumentCache) -> list[Any]:
    """The per-operation extensions the service runs: the shared parse cache, the validation
    cache, the limits, the guard (rate limits, metrics), and no introspection in production."""
    limits = Limits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_cost=settings.max_query_cost,
    )
    extensions: list[Any] = [
        lambda: ParsedDocument(documents),
        DocumentValidationCache.factory(CACHE_SIZE),
        *limits.extensions(),
        OperationGuard,
    ]
    if settings.production:
        extensions.append(DisableIntrospection)
    return extensions


def build_schema(
    settings: Settings | None = None, *, extensions: ExtensionsFor = operation_extensions
) -> BookSchema:
    """The schema; `extensions` chooses its per-operation extensions (another list, e.g. one
    with a tracing extension added, is the caller's composition)."""
    settings = settings or Settings()
    documents = DocumentCache(max_tokens=settings.max_tokens, maxsize=CACHE_SIZE)
    schema = BookSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Book, Author, User, Review, Comment],
        extensions=extensions(settings, documents),
        execution_context_class=EXECUTION_CONTEXTS[settings.execution],
        config=StrawberryConfig(disable_field_suggestions=settings.production),
    )
    schema.documents = documents
    return schema
