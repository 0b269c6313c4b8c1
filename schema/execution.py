"""Execution with a fast path for plain fields: graphql-core's executor, minus its per-field
machinery where a field is only an attribute read.

Most of a book page's ~530 fields are scalars, objects or lists of objects read straight off
a Strawberry object (`title`, `likesCount`, `edges`, `node`, ...). graphql-core runs the same
steps for each of them as for a resolver that hits the database: a Path, a ResolveInfo, the
resolver through Strawberry's wrapper, two awaitable checks and value completion through the
type wrappers; that was most of the GraphQL share of a book page's CPU (bench/RESULTS.md).

`PlannedExecutionContext.execute_fields` gives each field a plan, made once per schema field:

- LEAF: read the attribute and return it when its Python type is what the scalar returns
  unchanged (str for String and ID, int within 32 bits for Int, bool, finite float), else
  coerce it with the scalar's own output coercion;
- OBJECT and OBJECT_LIST: read the attribute, check Strawberry's `is_type_of`, and execute
  the sub-selection (again through this method) without a ResolveInfo;
- PREFETCHED: a resolver field declared with `metadata={PREFETCHED: "attribute"}` whose
  value its parent already holds (Review.user when Book.reviews fetched the page's readers):
  when that attribute is not None it is completed like OBJECT, else the resolver runs;
- DOCUMENT: a leaf read off the object's document (schema.document_fields): the plan makes
  the resolver's read itself, and completes the value like LEAF;
- anything else (a resolver, arguments, abstract types, lists of scalars, meta fields) takes
  graphql-core's `execute_field` unchanged.

Every case that could produce an error (null for a non-null field, a value the scalar refuses,
a missing attribute, an object of the wrong type) goes back to graphql-core's `execute_field`
for that field, so errors, their paths and null propagation stay graphql-core's. So does an
attribute holding an awaitable (a figure a mutation's payload computes when it is selected:
schema.payload_figures), which graphql-core awaits. Errors raised inside a planned object's
sub-selection are handled with graphql-core's `handle_field_error`, as `execute_field` does.
The fast path steps aside for a whole request when graphql-core middleware (a per-field
`resolve` extension hook) is installed.
"""

import math
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfoHelpers,
    GraphQLString,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from schema.document_fields import DOCUMENT, Read

LEAF, OBJECT, OBJECT_LIST = 1, 2, 3
# Field metadata naming the attribute that holds a resolver field's value, when fetched already.
PREFETCHED = "prefetched"
_MISSING = object()
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

# Built-in scalars whose output coercion returns a value of this exact Python type unchanged.
_IDENTITY_TYPES: dict[Any, type] = {
    GraphQLString: str,
    GraphQLID: str,
    GraphQLInt: int,
    GraphQLBoolean: bool,
    GraphQLFloat: float,
}


class Plan:
    """How to resolve one schema field without graphql-core's per-field machinery."""

    __slots__ = (
        "attribute",
        "identity_type",
        "is_type_of",
        "kind",
        "non_null",
        "of_type",
        "read",
        "resolver_fallback",
        "verbatim_type",
    )

    def __init__(
        self,
        kind: int,
        attribute: str,
        of_type: Any,
        non_null: bool,
        identity_type: type | None = None,
        is_type_of: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        self.kind = kind
        self.attribute = attribute
        self.of_type = of_type
        self.non_null = non_null
        self.identity_type = identity_type
        # Values of this type are returned as they are (no range or finiteness check).
        self.verbatim_type = identity_type if identity_type in (str, bool) else None
        self.is_type_of = is_type_of
        # None in the attribute means "not fetched yet": the field's resolver decides.
        self.resolver_fallback = False
        # A document field: the value is read(attribute's value), the attribute is `doc`.
        self.read: Read | None = None


def _generated_is_type_of(object_type: GraphQLObjectType) -> tuple[bool, Any]:
    """(usable without a ResolveInfo, predicate): Strawberry's own `is_type_of` never reads
    its info argument; a user-defined one might."""
    predicate = object_type.is_type_of
    if predicate is None:
        return True, None
    return predicate.__qualname__.endswith("_get_is_type_of.<locals>.is_type_of"), predicate


def _plain_definition(field: GraphQLField) -> Any:
    """The field's Strawberry definition when nothing wraps its resolution (no arguments,
    field extensions or permissions), else None."""
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if (
        definition is None
        or field.args
        or getattr(definition, "extensions", None)
        or getattr(definition, "permission_classes", None)
    ):
        return None
    return definition


def _default_resolved(field: GraphQLField, definition: Any) -> bool:
    """Whether the field's value is its attribute, read by Strawberry's default resolver."""
    return (
        getattr(field.resolve, "_is_default", False)
        and getattr(definition, "base_resolver", None) is None
        and getattr(definition, "default_resolver", getattr) is getattr
    )


def verbatim_list_of(field: GraphQLField) -> tuple[str, type, bool] | None:
    """(attribute, item type, non-null) for an attribute field listing non-null strings or
    booleans (such as Book.genres), whose completed value is a list of the same items; None
    for any other field."""
    definition = _plain_definition(field)
    if definition is None or not _default_resolved(field, definition):
        return None
    metadata = getattr(definition, "metadata", None) or {}
    if metadata.get(DOCUMENT) is not None or metadata.get(PREFETCHED) is not None:
        return None
    kind: Any = field.type
    non_null = isinstance(kind, GraphQLNonNull)
    inner = kind.of_type if non_null else kind
    if not isinstance(inner, GraphQLList) or not isinstance(inner.of_type, GraphQLNonNull):
        return None
    item = _IDENTITY_TYPES.get(inner.of_type.of_type)
    if item not in (str, bool):
        return None
    return definition.python_name, item, non_null


def make_plan(field: GraphQLField) -> Plan | None:
    definition = _plain_definition(field)
    if definition is None:
        return None
    metadata = getattr(definition, "metadata", None) or {}
    read = metadata.get(DOCUMENT)
    if read is not None:
        leaf: Any = field.type
        non_null = isinstance(leaf, GraphQLNonNull)
        leaf = leaf.of_type if non_null else leaf
        if not is_leaf_type(leaf):
            return None
        plan = Plan(LEAF, "doc", leaf, non_null, identity_type=_IDENTITY_TYPES.get(leaf))
        plan.read = read
        return plan
    prefetched = metadata.get(PREFETCHED)
    if prefetched is None and not _default_resolved(field, definition):
        return None
    attribute = prefetched or definition.python_name
    kind: Any = field.type
    non_null = isinstance(kind, GraphQLNonNull)
    inner = kind.of_type if non_null else kind
    if prefetched is None and is_leaf_type(inner):
        return Plan(LEAF, attribute, inner, non_null, identity_type=_IDENTITY_TYPES.get(inner))
    if isinstance(inner, GraphQLObjectType):
        plan_kind, object_type = OBJECT, inner
    elif (
        prefetched is None
        and isinstance(inner, GraphQLList)
        # Only non-null items: an error in one then nulls the whole list, as it does here.
        and isinstance(inner.of_type, GraphQLNonNull)
        and isinstance(inner.of_type.of_type, GraphQLObjectType)
    ):
        plan_kind, object_type = OBJECT_LIST, inner.of_type.of_type
    else:
        return None
    usable, predicate = _generated_is_type_of(object_type)
    if not usable:
        return None
    plan = Plan(plan_kind, attribute, object_type, non_null, is_type_of=predicate)
    plan.resolver_fallback = prefetched is not None
    return plan


_plans: dict[int, tuple[GraphQLField, Plan | None]] = {}


def plan_of(field: GraphQLField) -> Plan | None:
    """The field's plan, made once (the schema's field objects live as long as the process)."""
    known = _plans.get(id(field))
    if known is None or known[0] is not field:
        known = (field, make_plan(field))
        _plans[id(field)] = known
    return known[1]


def _read(read: Read, document: Any) -> Any:
    """A document field's value; _MISSING when reading fails (graphql-core then calls the
    resolver, which fails the same way, and reports it)."""
    try:
        return read(document)
    except Exception:
        return _MISSING


def _leaf_value(plan: Plan, value: Any) -> Any:
    """The completed value of a leaf, or Undefined when graphql-core must decide (errors)."""
    identity = plan.identity_type
    if identity is int and type(value) is int:
        return value if _INT_MIN <= value <= _INT_MAX else Undefined
    if identity is float and type(value) is float:
        return value if math.isfinite(value) else Undefined
    try:
        coerced = plan.of_type.coerce_output_value(value)
    except Exception:  # graphql-core reports it, with its path
        return Undefined
    return Undefined if coerced is None else coerced


async def awaited_items(
    completed: list[Any],
    indices: list[int],
    gather: Callable[..., Awaitable[list[Any]]] = gather_with_cancel,
) -> list[Any]:
    """A list whose items at `indices` are awaitables, with their values."""
    if len(indices) == 1:  # as graphql-core: no task for a single awaitable
        completed[indices[0]] = await completed[indices[0]]
        return completed
    awaited = await gather(*(completed[i] for i in indices))
    for index, value in zip(indices, awaited, strict=True):
        completed[index] = value
    return completed


def _helpers_without_cycle(executor: Any) -> GraphQLResolveInfoHelpers:
    """graphql-core's resolver helpers hold bound methods of the executor, which holds the
    helpers: a reference cycle that kept every request's executor, and through it its context,
    loaders and documents, until the garbage collector ran (a collection every ~20 book
    pages, none on the hand-written floor). These call the same methods through a weak
    reference; the executor is alive while anything of its execution runs."""
    executor_ref = weakref.ref(executor)

    def alive() -> Any:
        found = executor_ref()
        if found is None:
            raise RuntimeError("the execution these helpers belong to has ended")
        return found

    def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return alive().gather_async_work(values)

    def track(values: Sequence[Any]) -> None:
        alive().track_async_work(values)

    return GraphQLResolveInfoHelpers(gather=gather, track=track)


class PlannedExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.async_helpers = _helpers_without_cycle(self)

    def with_abort_signal(self, awaitable: Awaitable[Any]) -> Any:
        # graphql-core wraps every awaited resolver result in a coroutine that, without an
        # abort signal, only awaits it: the caller then awaits the value itself.
        if self.abort_signal is None:
            return awaitable
        return super().with_abort_signal(awaitable)

    def get_stream_usage(self, field_details_list: Any, path: Path) -> Any:
        # graphql-core looks for @stream on every list field by hashing its field nodes
        # (a quarter of a millisecond per list on the book page); a schema without the
        # directive cannot stream (validation refuses it, `execute` refuses the schema).
        if self.schema.get_directive("stream") is None:
            return None
        return super().get_stream_usage(field_details_list, path)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        middleware = self.middleware_manager
        if middleware is not None and getattr(middleware, "middlewares", None):
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        awaitable_keys: list[str] = []
        is_awaitable = self.is_awaitable
        try:
            for response_name, field_details_list, field, plan in self._selection(
                parent_type, grouped_field_set
            ):
                result: Any = Undefined
                if plan is not None:
                    value = getattr(source_value, plan.attribute, _MISSING)
                    if plan.read is not None and value is not _MISSING:
                        value = _read(plan.read, value)
                    if value is None:
                        if not plan.non_null and not plan.resolver_fallback:
                            results[response_name] = None
                            continue
                    elif value is _MISSING:
                        pass  # graphql-core reports the missing attribute
                    elif plan.kind == LEAF:
                        if type(value) is plan.verbatim_type:
                            results[response_name] = value
                            continue
                        result = _leaf_value(plan, value)
                        if result is not Undefined:
                            results[response_name] = result
                            continue
                    else:
                        result = self._planned_object(
                            plan,
                            field,
                            field_details_list,
                            Path(path, response_name, parent_type.name),
                            value,
                            position_context,
                        )
                if result is Undefined:
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        field_details_list,
                        Path(path, response_name, parent_type.name),
                        position_context,
                    )
                    if result is Undefined:
                        continue
                results[response_name] = result
                if is_awaitable(result):
                    awaitable_keys.append(response_name)
        except Exception:
            if awaitable_keys:
                self.settle_in_background([results[key] for key in awaitable_keys])
            raise
        if not awaitable_keys:
            return results
        return self._awaited_fields(results, awaitable_keys)

    def _selection(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> list[Any]:
        """(response name, field details, field, plan) per selected field: worked out once per
        request for each collected selection (graphql-core memoizes those per request, so the
        30 reviews of a page share one)."""
        selections: dict[int, tuple[Any, list[Any]]] | None = getattr(self, "_selections", None)
        if selections is None:
            selections = {}
            self._selections = selections
        known = selections.get(id(grouped_field_set))
        if known is None or known[0] is not grouped_field_set:
            fields = parent_type.fields
            entries = []
            for response_name, field_details_list in grouped_field_set.items():
                field = fields.get(field_details_list[0].node.name.value)
                plan = plan_of(field) if field is not None else None
                entries.append((response_name, field_details_list, field, plan))
            known = (grouped_field_set, entries)
            selections[id(grouped_field_set)] = known
        return known[1]

    async def _awaited_fields(self, results: dict[str, Any], keys: list[str]) -> dict[str, Any]:
        if len(keys) == 1:
            results[keys[0]] = await results[keys[0]]
            return results
        awaited = await gather_with_cancel(*(results[key] for key in keys))
        results.update(zip(keys, awaited, strict=True))
        return results

    def _planned_object(
        self,
        plan: Plan,
        field: GraphQLField,
        field_details_list: Any,
        path: Path,
        value: Any,
        position_context: Any,
    ) -> Any:
        """The completed object or list of objects, an awaitable of it, or Undefined when
        graphql-core must decide (a value of the wrong type, a null item)."""
        object_type: GraphQLObjectType = plan.of_type
        if plan.kind == OBJECT:
            if not self._plain_object(plan, value):
                return Undefined
            items = None
        else:
            if not isinstance(value, list):
                return Undefined
            for item in value:
                if not self._plain_object(plan, item):
                    return Undefined
            items = value
        grouped, defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if defer_usages:
            return Undefined
        try:
            if items is None:
                completed = self.execute_collected_subfields(
                    object_type, value, path, grouped, defer_usages, position_context
                )
            else:
                completed = self._planned_items(
                    items,
                    path,
                    lambda item, item_path: self.execute_collected_subfields(
                        object_type, item, item_path, grouped, [], position_context
                    ),
                )
        except Exception as raw_error:  # as graphql-core's execute_field does
            self.handle_field_error(raw_error, field.type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._awaited_field(completed, field, field_details_list, path)
        return completed

    def _plain_object(self, plan: Plan, value: Any) -> bool:
        """Whether the value is an object of the plan's type, ready now (not an awaitable)."""
        if value is None or value is Undefined or self.is_awaitable(value):
            return False
        return plan.is_type_of is None or bool(plan.is_type_of(value, None))

    def _planned_items(
        self, items: list[Any], path: Path, complete: Callable[[Any, Path], Any]
    ) -> Any:
        """The list of each item's `complete(item, item path)`, or an awaitable of it."""
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        is_awaitable = self.is_awaitable
        try:
            for index, item in enumerate(items):
                result = complete(item, path.add_key(index, None))
                if is_awaitable(result):
                    awaitable_indices.append(index)
                completed.append(result)
        except Exception:
            if awaitable_indices:  # as graphql-core: let started work finish, errors and all
                self.settle_in_background([completed[i] for i in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed
        return self._awaited_items(completed, awaitable_indices)

    _awaited_items = staticmethod(awaited_items)

    async def _awaited_field(
        self, completed: Awaitable[Any], field: GraphQLField, field_details_list: Any, path: Path
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:  # as graphql-core's execute_field does
            self.handle_field_error(raw_error, field.type, field_details_list, path)
            return None
