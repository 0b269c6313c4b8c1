"""A measured proposal: a fast path in GraphQL execution for plain leaf fields.

Most of the book page's ~530 resolved fields are scalars read straight off an object
(`title`, `likesCount`, `displayName`, ...): Strawberry gives them a default resolver
(`getattr(source, python_name)`), yet graphql-core runs the whole per-field machinery for
each one (a ResolveInfo, the resolver through Strawberry's wrapper, awaitable checks, value
completion). This execution context resolves such a field directly: read the attribute,
coerce it with the scalar's own output coercion, done. Anything else, and any case that could
produce an error (null in a non-null field, a value the scalar refuses), takes graphql-core's
normal path, so results and errors are the same. It steps aside entirely when a per-field
extension (a `resolve` hook, i.e. graphql-core middleware) is installed.

Used by bench variants through `BENCH_FIXES=fastleaf` (bench.app); for production it would be
`execution_context_class=FastLeafExecutionContext` in schema.definition.build_schema.
"""

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from graphql import GraphQLField, GraphQLNonNull, GraphQLObjectType, is_leaf_type, parse
from graphql.pyutils import Undefined
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.schema.schema_converter import GraphQLCoreConverter

_NO_PLAN = (None, None, False)
_plans: dict[int, tuple[str | None, Any, bool]] = {}


def _plan(field: GraphQLField) -> tuple[str | None, Any, bool]:
    """(attribute name, leaf type, non-null) for a plain leaf field, else (None, None, False)."""
    plan = _plans.get(id(field))
    if plan is None:
        plan = _NO_PLAN
        definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
        kind: Any = field.type
        non_null = isinstance(kind, GraphQLNonNull)
        inner = kind.of_type if non_null else kind
        if (
            definition is not None
            and getattr(field.resolve, "_is_default", False)
            and getattr(definition, "base_resolver", None) is None
            and not getattr(definition, "extensions", None)
            and is_leaf_type(inner)
        ):
            plan = (definition.python_name, inner, non_null)
        _plans[id(field)] = plan
    return plan


class FastLeafExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        middleware = self.middleware_manager
        if middleware is None or not getattr(middleware, "middlewares", None):
            node = field_details_list[0].node
            field = parent_type.fields.get(node.name.value)
            if field is not None and not node.arguments:
                name, leaf, non_null = _plan(field)
                if name is not None:
                    value = getattr(source, name, Undefined)
                    if value is None:
                        if not non_null:
                            return None
                    elif value is not Undefined:
                        try:
                            coerced = leaf.coerce_output_value(value)
                        except Exception:
                            coerced = None
                        if coerced is not None and coerced is not Undefined:
                            return coerced
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )


# --- one cached parse + validate per distinct document --------------------------------------


class DocumentCache(SchemaExtension):
    """Parse and validate each distinct document once per process, keyed by its text.

    Replaces ParserCache + ValidationCache + the limit extensions (MaxTokensLimiter and the
    AddValidationRules ones): the same parse options, the same rules and the same errors, but
    one extension instead of six on every request, and a cache key that is the document's
    text, not its syntax tree (ValidationCache hashes the whole tree on every request: the
    nodes are frozen dataclasses with a generated, recursive __hash__).
    """

    def __init__(
        self,
        rules: tuple[Any, ...],
        max_tokens: int | None,
        validated: dict[Any, Any],
        maxsize: int = 1024,
    ) -> None:
        self.rules = rules
        self.max_tokens = max_tokens
        self.validated = validated
        self.maxsize = maxsize

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            context.graphql_document = _parse(context.query, self.max_tokens)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        rules = context.validation_rules + self.rules
        context.validation_rules = rules
        key = (context.query, rules) if context.query else None
        errors = self.validated.get(key) if key is not None else None
        if errors is None:
            document = context.graphql_document
            assert document is not None
            errors = validate_document(context.schema._schema, document, rules)
            if key is not None:
                if len(self.validated) >= self.maxsize:
                    self.validated.pop(next(iter(self.validated)))
                self.validated[key] = errors
        context.pre_execution_errors = errors
        yield


@lru_cache(maxsize=1024)
def _parse(query: str, max_tokens: int | None) -> Any:
    return parse(query, max_tokens=max_tokens)


def document_cache_extensions(extensions: Iterable[Any]) -> list[Any]:
    """`extensions` (a schema's factories) with the caches and limits folded into one
    DocumentCache; the rules are collected once, so they are the same classes every time."""
    kept: list[Any] = []
    rules: list[Any] = []
    max_tokens: int | None = None
    for factory in extensions:
        made = factory if isinstance(factory, SchemaExtension) else factory()
        if isinstance(made, ParserCache | ValidationCache):
            continue
        if isinstance(made, MaxTokensLimiter):
            max_tokens = made.max_token_count
        elif isinstance(made, AddValidationRules):
            rules += made.validation_rules
        else:
            kept.append(factory)
            continue
    frozen_rules = tuple(rules)
    validated: dict[Any, Any] = {}
    return [lambda: DocumentCache(frozen_rules, max_tokens, validated), *kept]
