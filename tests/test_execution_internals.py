"""The graphql-core and Strawberry internals that the planned and compiled executions
(schema/execution.py, schema/compiled.py) are built on, pinned: an upgrade that changes one
of them fails here by name, before any equivalence test has to find out why.

graphql-core documents its executor's methods as overridable but not as public API, so each
one the fast paths override or call is pinned by its parameters, and the two behaviours they
rely on (sub-selections are collected through `collect_subfields` and executed through
`execute_fields`) by a run.
"""

import gc
import inspect
import weakref
from enum import Enum
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import strawberry
from bson import ObjectId
from graphql import GraphQLObjectType, GraphQLResolveInfo, parse
from graphql.execution import Executor
from graphql.execution import execute as core_execute
from graphql.execution.collect_fields import FieldDetails
from graphql.execution.incremental import IncrementalExecutor
from graphql.execution.values import VariableValues, coerce_argument
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.extensions import FieldExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from schema.compiled import CompiledExecutionContext
from schema.compiled_operation import RESOLVE_INFO_FIELDS
from schema.direct_resolvers import DirectResolvers
from schema.execution import PlannedExecutionContext
from schema.loaders import Loaders

EXECUTOR_METHODS = {
    # overridden
    "execute_fields": [
        "parent_type",
        "source_value",
        "path",
        "grouped_field_set",
        "position_context",
    ],
    "collect_subfields": ["return_type", "field_details_list"],
    "get_stream_usage": ["field_details_list", "path"],
    # called
    "execute_field": ["parent_type", "source", "field_details_list", "path", "position_context"],
    "handle_field_error": ["raw_error", "return_type", "field_details_list", "path"],
    "settle_in_background": ["awaitables"],
    "execute_collected_subfields": [
        "parent_type",
        "source_value",
        "path",
        "grouped_field_set",
        "new_defer_usages",
        "delivery_group_map",  # IncrementalExecutor's name for position_context
    ],
}


def parameters(function: Any) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]


def test_executor_methods_keep_their_parameters() -> None:
    for name, expected in EXECUTOR_METHODS.items():
        assert parameters(getattr(IncrementalExecutor, name)) == expected, name


def test_with_abort_signal_is_only_ever_awaited() -> None:
    """PlannedExecutionContext.with_abort_signal hands back the awaitable itself when there
    is no abort signal: graphql-core's callers must await what it returns, nothing else."""
    for caller in (
        IncrementalExecutor.complete_awaitable_value,
        IncrementalExecutor.complete_awaitable_list_item_value,
    ):
        assert "await self.with_abort_signal(" in inspect.getsource(caller), caller
    assert parameters(IncrementalExecutor.with_abort_signal) == ["awaitable"]


def test_strawberry_executes_with_graphql_cores_incremental_executor() -> None:
    assert issubclass(StrawberryGraphQLCoreExecutionContext, IncrementalExecutor)
    assert issubclass(IncrementalExecutor, Executor)


def test_the_program_builds_graphql_cores_resolve_info_and_values() -> None:
    """schema.compiled_operation writes a ResolveInfo as a tuple in this order (and checks it
    again before writing a program) and coerces variables as graphql-core's VariableValues."""
    assert GraphQLResolveInfo._fields == RESOLVE_INFO_FIELDS
    assert VariableValues._fields == ("sources", "coerced")
    assert parameters(coerce_argument)[:7] == [
        "coerced_values",
        "node",
        "arg_name",
        "arg_def",
        "argument_node",
        "variable_values",
        "fragment_variable_values",
    ]


def test_the_values_the_fast_paths_build() -> None:
    path = Path(None, "book", "Query").add_key(0, None)
    assert (path.prev, path.key, path.typename) == (Path(None, "book", "Query"), 0, None)
    assert path.as_list() == ["book", 0]
    assert FieldDetails._fields[0] == "node"
    assert callable(gather_with_cancel) and Undefined is not None


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Leaf(Named):
    name: str = "leaf"

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


@strawberry.type
class Query:
    leaf: Leaf = strawberry.field(default_factory=Leaf)


def test_what_strawberry_puts_on_graphql_cores_fields() -> None:
    schema = strawberry.Schema(Query)
    leaf = schema._schema.type_map["Leaf"]
    assert isinstance(leaf, GraphQLObjectType)
    plain, resolved = leaf.fields["name"], leaf.fields["shout"]
    # make_plan reads the Strawberry field back from graphql-core's and knows a plain
    # attribute by Strawberry's default resolver.
    definition = plain.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
    assert definition.python_name == "name" and definition.base_resolver is None
    assert getattr(plain.resolve, "_is_default", False)
    assert not getattr(resolved.resolve, "_is_default", False)
    # The generated is_type_of of a type implementing an interface, which ignores its info
    # argument (schema.execution._generated_is_type_of).
    assert leaf.is_type_of is not None
    assert leaf.is_type_of.__qualname__.endswith("_get_is_type_of.<locals>.is_type_of")
    assert leaf.is_type_of(Leaf(), None) is True
    assert leaf.is_type_of(object(), None) is False


class Recording(PlannedExecutionContext):
    calls: ClassVar[list[tuple[str, str]]] = []

    def collect_subfields(self, return_type: Any, field_details_list: Any) -> Any:
        self.calls.append(("collect_subfields", return_type.name))
        return super().collect_subfields(return_type, field_details_list)

    def execute_fields(self, parent_type: Any, *args: Any) -> Any:
        self.calls.append(("execute_fields", parent_type.name))
        return super().execute_fields(parent_type, *args)


async def test_sub_selections_go_through_collect_subfields_and_execute_fields() -> None:
    """The compiled execution caches collections in collect_subfields and runs its functions
    in execute_fields: graphql-core must reach every sub-selection through both."""
    schema = strawberry.Schema(Query, execution_context_class=Recording)
    Recording.calls.clear()
    result = await schema.execute("{ leaf { name shout } }", root_value=Query())
    assert result.errors is None
    assert result.data == {"leaf": {"name": "leaf", "shout": "LEAF"}}
    assert Recording.calls == [
        ("execute_fields", "Query"),
        ("collect_subfields", "Leaf"),
        ("execute_fields", "Leaf"),
    ]


@strawberry.enum
class Order(Enum):
    UP = "up"
    DOWN = "down"


@strawberry.input
class Window:
    start: int
    size: int = 3


class Upper(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return str(next_(source, info, **kwargs)).upper()


@strawberry.type
class Shelf:
    label: str

    @strawberry.field
    def echo(
        self,
        info: strawberry.Info,
        first: int | None = 2,
        order: Order | None = Order.UP,
        stars: list[int] | None = None,
        window: Window | None = None,
        after_id: strawberry.ID | None = None,
    ) -> str:
        seen = (self.label, info.field_name, first, order, stars, window, after_id)
        return repr(seen)

    @strawberry.field(extensions=[Upper()])
    def loud(self) -> str:
        return self.label

    @strawberry.field
    async def later(self, root: "Shelf", note: str = "n") -> str:
        return f"{root.label}:{note}"


@strawberry.type
class ShelfQuery:
    @strawberry.field
    def shelf(self) -> Shelf:
        return Shelf(label="s")


async def test_direct_resolvers_are_called_as_strawberry_calls_them() -> None:
    """schema.direct_resolvers: each resolver gets the same source, Info and converted
    arguments (enum, list, input object, renamed argument, defaults) as through Strawberry's
    wrapper; a field with an extension keeps Strawberry's resolver."""
    schema = strawberry.Schema(ShelfQuery)
    direct = DirectResolvers(schema)
    shelf_type = schema._schema.type_map["Shelf"]
    assert isinstance(shelf_type, GraphQLObjectType)
    fields = shelf_type.fields
    assert fields["echo"].resolve in direct.direct and fields["later"].resolve in direct.direct
    assert fields["loud"].resolve not in direct.direct  # its extension runs in the wrapper
    document = parse(
        """query ($o: Order, $w: Window) { shelf {
          a: echo b: echo(first: 7, order: DOWN, stars: [5, 4], afterId: "x")
          c: echo(order: $o, window: $w, first: null) loud later later2: later(note: "m") } }"""
    )
    variables = {"o": "DOWN", "w": {"start": 1}}
    through_strawberry = await core_execute(schema._schema, document, variable_values=variables)
    through_direct = await core_execute(
        schema._schema, document, variable_values=variables, middleware=direct
    )
    assert through_strawberry.errors is None
    assert through_direct == through_strawberry
    data = through_direct.data
    assert data is not None
    assert "Order.DOWN" in data["shelf"]["c"] and "Window(start=1, size=3)" in data["shelf"]["c"]
    assert data["shelf"]["loud"] == "S" and data["shelf"]["later2"] == "s:m"


@pytest.mark.parametrize("executor", [PlannedExecutionContext, CompiledExecutionContext])
async def test_an_execution_leaves_no_reference_cycle(executor: type) -> None:
    """graphql-core's executor holds helpers bound to itself; a cycle there kept each
    request's context, loaders and documents until a garbage collection (schema.execution
    _helpers_without_cycle). Refcounting alone now frees an execution."""
    schema = strawberry.Schema(ShelfQuery)
    document = parse("{ shelf { later echo(order: DOWN) } }")

    async def run() -> None:
        result = await core_execute(schema._schema, document, executor_class=executor)
        assert result.errors is None and result.data is not None

    await run()  # plans made and cached before counting
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            await run()
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_requests_loaders_are_freed_without_the_garbage_collector() -> None:
    """Each viewer loader holds its load function; one bound to the Loaders that holds the
    loader was a cycle (schema.loaders)."""
    loaders = Loaders(SimpleNamespace(), ObjectId())  # type: ignore[arg-type]
    made = [
        loaders.viewer_entry,
        loaders.viewer_liked,
        loaders.viewer_follows_user,
        loaders.viewer_follows_author,
    ]
    assert all(loader is not None for loader in made)
    freed = weakref.ref(loaders)
    gc.disable()
    try:
        del loaders, made
        assert freed() is None
    finally:
        gc.enable()
