"""`PlannedExecutionContext` (schema/execution.py) and `CompiledExecutionContext`
(schema/compiled.py) against Strawberry's stock execution context.

Every query runs on one small schema of this module's own, with the planned context, with the
compiled one (twice: a document is compiled at its second execution, COMPILE_AT) and with
`StrawberryGraphQLCoreExecutionContext`, and must give the same `data` and the same errors
(message, locations, path, in the same order). A few cases also pin the expected result, so
that the paths cannot agree on a wrong answer. Every schema here parses a text once, through
the service's document cache (schema.documents): compilations are found again by the parsed
operation's identity.

Plain fields are dataclass attributes; a case puts bad values in them by passing them to the
constructor (Strawberry types are dataclasses and do not validate). `Item` implements the
`Node` interface, so Strawberry gives it an `is_type_of`; `Box` and `Scalars` have none.

The tests at the end pin edge cases where a first version of the planned context differed
from graphql-core (a missing attribute in a lenient scalar, a custom default resolver, an
awaitable or Undefined in a plain object field, error order with one pending list item,
pending items settled after a synchronous error), one minimal query each.
"""

import asyncio
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql.pyutils import Undefined
from strawberry.extensions import SchemaExtension
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema import compiled as compiled_module
from schema.compiled import (
    COMPILE_AT,
    CompiledExecutionContext,
    collection_is_static,
    is_compiled,
)
from schema.documents import DocumentCache, ParsedDocument
from schema.execution import PlannedExecutionContext

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

# Names of the items whose async resolvers started (see `Item.later`).
started: list[str] = []


@strawberry.enum
class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class Item(Node):
    name: str = "item"
    rank: int | None = None

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    async def later(self) -> str:
        started.append(self.name)
        await asyncio.sleep(0)
        return f"{self.name} later"

    @strawberry.field
    def checked(self) -> str | None:
        return _check(self.name)

    @strawberry.field
    def required_checked(self) -> str:
        return _check(self.name)

    @strawberry.field
    async def async_checked(self) -> str | None:
        await asyncio.sleep(0)
        return _check(self.name)

    @strawberry.field
    async def async_required_checked(self) -> str:
        await asyncio.sleep(0)
        return _check(self.name)


def _check(name: str) -> str:
    if name.startswith("bad"):
        raise ValueError(f"{name} refused")
    return name


@strawberry.type
class Scalars:
    text: str = "text"
    number: int = 7
    flag: bool = True
    ratio: float = 1.5
    key: strawberry.ID = strawberry.ID("key-1")
    when: datetime = WHEN
    color: Color = Color.RED
    maybe_text: str | None = None
    maybe_number: int | None = None
    maybe_ratio: float | None = None
    maybe_color: Color | None = None
    maybe_when: datetime | None = None
    numbers: list[int] = field(default_factory=lambda: [1, 2, 3])
    maybe_numbers: list[int | None] | None = None


@strawberry.type
class Box:
    label: str = "box"
    caption: str = strawberry.field(default="caption", name="heading")
    inner: "Box | None" = None
    scalars: Scalars | None = None
    required_scalars: Scalars = field(default_factory=Scalars)
    item: Item | None = None
    required_item: Item = field(default_factory=lambda: Item(id=strawberry.ID("r")))
    items: list[Item] = field(default_factory=list)
    maybe_items: list[Item] | None = None
    sparse_items: list[Item | None] = field(default_factory=list)

    @strawberry.field
    def resolved_items(self) -> list[Item]:
        return self.items


@strawberry.type
class Edge[T]:
    cursor: str
    node: T


@strawberry.type
class Connection[T]:
    edges: list[Edge[T]]
    count: int


@strawberry.type
class Query:
    box: Box | None = None
    page: Connection[Item] | None = None
    required_box: Box = field(default_factory=Box)
    scalars: Scalars | None = None
    node: Node | None = None

    @strawberry.field
    async def slow_box(self) -> Box | None:
        await asyncio.sleep(0)
        return self.box


class QuietSchema(strawberry.Schema):
    """A schema that does not log errors: pytest's log capture would keep each failed
    execution's frames (and any coroutine left in them) alive until a later test."""

    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        pass


def make_schema(
    context_class: type, query: type = Query, extensions: tuple[Any, ...] = (), **options: Any
) -> strawberry.Schema:
    documents = DocumentCache(max_tokens=2000)
    schema = QuietSchema(
        query=query,
        execution_context_class=context_class,
        extensions=[*extensions, lambda: ParsedDocument(documents)],
        **options,
    )
    schema.documents = documents  # type: ignore[attr-defined]
    return schema


PLANNED = make_schema(PlannedExecutionContext)
COMPILED = make_schema(CompiledExecutionContext)
STOCK = make_schema(StrawberryGraphQLCoreExecutionContext)


def item(name: str, ident: str | None = None, **values: Any) -> Item:
    return Item(id=strawberry.ID(ident or name), name=name, **values)


def scalars(**values: Any) -> Callable[[], Query]:
    """A root whose `scalars` holds these (possibly wrong) values."""
    return lambda: Query(scalars=Scalars(**values))


def box(**values: Any) -> Callable[[], Query]:
    """A root whose `box` holds these (possibly wrong) values."""
    return lambda: Query(box=Box(**values))


def error(message: str, path: list[Any], line: int, column: int) -> dict[str, Any]:
    return {"message": message, "locations": [{"line": line, "column": column}], "path": path}


@dataclass
class Case:
    query: str
    root: Callable[[], Any] = Query
    variables: dict[str, Any] | None = None
    # When given, what both contexts must return: (data, formatted errors).
    expected: tuple[Any, list[dict[str, Any]]] | None = None


async def run(schema: strawberry.Schema, case: Case) -> tuple[Any, list[dict[str, Any]]]:
    result = await schema.execute(
        case.query, variable_values=case.variables, root_value=case.root()
    )
    return result.data, [e.formatted for e in result.errors or []]


async def run_fast(
    case: Case,
    planned: strawberry.Schema = PLANNED,
    compiled: strawberry.Schema = COMPILED,
    compiles: bool | None = None,
) -> dict[str, tuple[Any, list[dict[str, Any]]]]:
    """The planned result, and the compiled schema's from the document's first execution to
    the first that runs compiled (`compiles`: whether it does; by default whenever the
    document's selections cannot depend on the variables)."""
    found = {"planned": await run(planned, case)}
    for execution in range(1, COMPILE_AT + 1):
        found[f"compiled, execution {execution}"] = await run(compiled, case)
    document = compiled.documents.parse(case.query)  # type: ignore[attr-defined]
    if compiles is None:
        compiles = collection_is_static(list(document.definitions))
    assert is_compiled(document, compiled._schema) is compiles
    return found


def assert_all_equal(found: dict[str, Any], stock: Any) -> None:
    for name, result in found.items():
        assert result == stock, name


LEAVES = "{ scalars { text number flag ratio key when color } }"

CASES = [
    # --- leaves -------------------------------------------------------------------------------
    pytest.param(
        Case(
            "{ scalars { text number flag ratio key when color"
            " maybeText maybeNumber maybeRatio maybeColor maybeWhen } }",
            scalars(),
            expected=(
                {
                    "scalars": {
                        "text": "text",
                        "number": 7,
                        "flag": True,
                        "ratio": 1.5,
                        "key": "key-1",
                        "when": "2024-01-02T03:04:05+00:00",
                        "color": "RED",
                        "maybeText": None,
                        "maybeNumber": None,
                        "maybeRatio": None,
                        "maybeColor": None,
                        "maybeWhen": None,
                    }
                },
                [],
            ),
        ),
        id="leaves-valid-and-optional-none",
    ),
    pytest.param(
        Case(
            "{ scalars { maybeText maybeNumber maybeRatio maybeColor maybeWhen } }",
            scalars(
                maybe_text="t",
                maybe_number=-(2**31),
                maybe_ratio=-0.0,
                maybe_color=Color.GREEN,
                maybe_when=WHEN,
            ),
        ),
        id="leaves-optional-set-int-lower-bound",
    ),
    pytest.param(
        Case(
            LEAVES,
            scalars(number=2**31),
            expected=(
                {"scalars": None},
                [
                    error(
                        "Int cannot represent non 32-bit signed integer value: 2147483648",
                        ["scalars", "number"],
                        1,
                        18,
                    )
                ],
            ),
        ),
        id="int-out-of-range-nulls-parent",
    ),
    pytest.param(
        Case("{ scalars { text maybeNumber } }", scalars(maybe_number=-(2**31) - 1)),
        id="int-out-of-range-in-nullable-field",
    ),
    pytest.param(Case(LEAVES, scalars(ratio=math.nan)), id="float-nan"),
    pytest.param(
        Case("{ scalars { text maybeRatio } }", scalars(maybe_ratio=-math.inf)),
        id="float-inf-in-nullable-field",
    ),
    pytest.param(Case(LEAVES, scalars(number="7")), id="str-in-int"),
    pytest.param(Case(LEAVES, scalars(number=True, flag=1)), id="bool-in-int-int-in-bool"),
    pytest.param(
        Case(LEAVES, scalars(text=42, key=5, ratio=3, number=2.0)),
        id="int-in-string-and-id-int-float-mix",
    ),
    pytest.param(Case(LEAVES, scalars(text=True)), id="bool-in-string"),
    pytest.param(Case(LEAVES, scalars(number=2.5)), id="fractional-float-in-int"),
    pytest.param(
        Case(
            LEAVES,
            scalars(text=None),
            expected=(
                {"scalars": None},
                [
                    error(
                        "Cannot return null for non-nullable field Scalars.text.",
                        ["scalars", "text"],
                        1,
                        13,
                    )
                ],
            ),
        ),
        id="none-in-non-null-leaf",
    ),
    pytest.param(
        Case(
            "{ box { label } requiredBox { requiredScalars { text } } }",
            lambda: Query(box=Box(), required_box=Box(required_scalars=Scalars(text=None))),
            expected=(
                None,
                [
                    error(
                        "Cannot return null for non-nullable field Scalars.text.",
                        ["requiredBox", "requiredScalars", "text"],
                        1,
                        49,
                    )
                ],
            ),
        ),
        id="none-in-non-null-leaf-propagates-to-data",
    ),
    pytest.param(
        Case(
            "{ scalars { text number maybeText } }",
            lambda: Query(scalars=SimpleNamespace(text="duck", maybe_text="m")),
        ),
        id="missing-attribute-non-null",
    ),
    pytest.param(
        Case(
            "{ scalars { text maybeText } }",
            lambda: Query(scalars=SimpleNamespace(text="duck")),
        ),
        id="missing-attribute-nullable",
    ),
    pytest.param(
        Case(
            "{ scalars { color maybeColor } }",
            scalars(color="green", maybe_color="purple"),
        ),
        id="enum-raw-value-and-unknown-value",
    ),
    pytest.param(Case(LEAVES, scalars(color="blue")), id="enum-unknown-value-non-null"),
    pytest.param(
        Case(
            "{ scalars { when maybeWhen } }",
            scalars(when=date(2024, 1, 2), maybe_when="yesterday"),
        ),
        id="custom-scalar-date-and-string",
    ),
    pytest.param(Case(LEAVES, scalars(when=1704164645)), id="custom-scalar-refuses-non-null"),
    # --- objects ------------------------------------------------------------------------------
    pytest.param(
        Case(
            "{ box { label inner { label inner { label scalars { text } } }"
            " item { id name rank } requiredItem { id } } }",
            box(
                label="outer",
                inner=Box(label="middle", inner=Box(label="inner", scalars=Scalars())),
                item=item("a", rank=3),
            ),
            expected=(
                {
                    "box": {
                        "label": "outer",
                        "inner": {
                            "label": "middle",
                            "inner": {"label": "inner", "scalars": {"text": "text"}},
                        },
                        "item": {"id": "a", "name": "a", "rank": 3},
                        "requiredItem": {"id": "r"},
                    }
                },
                [],
            ),
        ),
        id="nested-plain-objects",
    ),
    pytest.param(
        Case("{ box { label inner { label } item { id } scalars { text } } }", box()),
        id="nullable-objects-none",
    ),
    pytest.param(
        Case(
            "{ box { label requiredItem { name } } }",
            box(required_item=None),
            expected=(
                {"box": None},
                [
                    error(
                        "Cannot return null for non-nullable field Box.requiredItem.",
                        ["box", "requiredItem"],
                        1,
                        15,
                    )
                ],
            ),
        ),
        id="none-in-non-null-object",
    ),
    pytest.param(
        Case(
            "{ box { label item { name } } }",
            box(item=Box(label="not an item")),
            expected=(
                {"box": {"label": "box", "item": None}},
                [
                    error(
                        "Expected value of type 'Item' but got: <Box instance>.",
                        ["box", "item"],
                        1,
                        15,
                    )
                ],
            ),
        ),
        id="wrong-type-in-object-with-is-type-of",
    ),
    pytest.param(
        Case("{ box { label requiredItem { name } } }", box(required_item=Scalars())),
        id="wrong-type-in-non-null-object",
    ),
    pytest.param(
        Case(
            "{ box { scalars { text number } requiredScalars { text } } }",
            box(
                scalars=SimpleNamespace(text="duck", number=1),
                required_scalars=Box(),  # no is_type_of: duck typing, `text` is missing
            ),
        ),
        id="any-object-in-object-without-is-type-of",
    ),
    pytest.param(
        Case(
            "{ box { heading h: heading } }",
            box(caption="cap"),
            expected=({"box": {"heading": "cap", "h": "cap"}}, []),
        ),
        id="field-with-another-graphql-name",
    ),
    pytest.param(
        Case("{ box { heading h: heading } }", box(caption=None)),
        id="field-with-another-graphql-name-none",
    ),
    pytest.param(
        Case(
            "{ page { count edges { cursor node { id name later } } } }",
            lambda: Query(
                page=Connection(
                    edges=[Edge(cursor="c1", node=item("a")), Edge(cursor="c2", node=item("b"))],
                    count=2,
                )
            ),
            expected=(
                {
                    "page": {
                        "count": 2,
                        "edges": [
                            {"cursor": "c1", "node": {"id": "a", "name": "a", "later": "a later"}},
                            {"cursor": "c2", "node": {"id": "b", "name": "b", "later": "b later"}},
                        ],
                    }
                },
                [],
            ),
        ),
        id="generic-connection",
    ),
    pytest.param(
        Case(
            "{ page { count edges { cursor node { name } } } }",
            lambda: Query(
                page=Connection(
                    edges=[Edge(cursor="c1", node=item("a")), Edge(cursor=None, node=None)], count=2
                )
            ),
            expected=(
                {"page": None},
                [
                    error(
                        "Cannot return null for non-nullable field ItemEdge.cursor.",
                        ["page", "edges", 1, "cursor"],
                        1,
                        24,
                    )
                ],
            ),
        ),
        id="generic-connection-null-in-edge",
    ),
    pytest.param(
        Case(
            "{ page { edges { node { name } } } }",
            lambda: Query(page=Connection(edges=[Edge(cursor="c1", node=Box())], count=1)),
        ),
        id="generic-connection-wrong-node-type",
    ),
    # --- lists --------------------------------------------------------------------------------
    pytest.param(
        Case(
            "{ box { items { id name rank } maybeItems { name } } }",
            box(items=[item("a", rank=1), item("b")], maybe_items=[item("c")]),
            expected=(
                {
                    "box": {
                        "items": [
                            {"id": "a", "name": "a", "rank": 1},
                            {"id": "b", "name": "b", "rank": None},
                        ],
                        "maybeItems": [{"name": "c"}],
                    }
                },
                [],
            ),
        ),
        id="list-of-objects",
    ),
    pytest.param(
        Case(
            "{ box { label items { name } } }",
            box(items=[item("a"), None]),
            expected=(
                {"box": None},
                [
                    error(
                        "Cannot return null for non-nullable field Box.items.",
                        ["box", "items", 1],
                        1,
                        15,
                    )
                ],
            ),
        ),
        id="none-item-in-non-null-item-list",
    ),
    pytest.param(
        Case(
            "{ box { label maybeItems { name } } }",
            box(maybe_items=[item("a"), item("b"), None]),
        ),
        id="none-item-in-nullable-list",
    ),
    pytest.param(
        Case("{ box { label maybeItems { name } } }", box(maybe_items=[Box(), item("b")])),
        id="wrong-type-item",
    ),
    pytest.param(
        Case(
            "{ box { sparseItems { name } maybeItems { name } } }",
            box(sparse_items=[item("a"), None, Box()], maybe_items=[]),
        ),
        id="list-of-nullable-objects-and-empty-list",
    ),
    pytest.param(
        Case(
            "{ box { items { name } maybeItems { name } } }",
            box(items=[], maybe_items=None),
            expected=({"box": {"items": [], "maybeItems": None}}, []),
        ),
        id="empty-and-none-lists",
    ),
    pytest.param(
        Case(
            "{ scalars { numbers maybeNumbers } }",
            scalars(numbers=[1, 2**31], maybe_numbers=[1, None, "x", 3]),
        ),
        id="lists-of-scalars",
    ),
    pytest.param(
        Case("{ box { label maybeItems { name } } }", box(maybe_items=item("a"))),
        id="object-in-list-field",
    ),
    pytest.param(
        Case(
            "{ box { label maybeItems { name } } scalars { maybeNumbers } }",
            lambda: Query(box=Box(maybe_items="ab"), scalars=Scalars(maybe_numbers="12")),
        ),
        id="string-in-list-field",
    ),
    pytest.param(
        Case(
            "{ box { items { name } maybeItems { name } } }",
            lambda: Query(box=Box(items=(item("a"), item("b")), maybe_items=iter([item("c")]))),
        ),
        id="tuple-and-iterator-in-list-field",
    ),
    # --- resolvers inside planned objects and lists -------------------------------------------
    pytest.param(
        Case(
            "{ box { items { name shout later } inner { item { shout later } } } }",
            box(items=[item("a"), item("b")], inner=Box(item=item("c"))),
            expected=(
                {
                    "box": {
                        "items": [
                            {"name": "a", "shout": "A", "later": "a later"},
                            {"name": "b", "shout": "B", "later": "b later"},
                        ],
                        "inner": {"item": {"shout": "C", "later": "c later"}},
                    }
                },
                [],
            ),
        ),
        id="sync-and-async-resolvers-in-planned-list",
    ),
    pytest.param(
        Case(
            "{ box { items { name checked asyncChecked } } }",
            box(items=[item("bad1"), item("ok"), item("bad2")]),
        ),
        id="nullable-resolvers-raising-in-list-items",
    ),
    pytest.param(
        Case(
            "{ box { label maybeItems { name requiredChecked } } }",
            box(maybe_items=[item("ok"), item("bad")]),
            expected=(
                {"box": {"label": "box", "maybeItems": None}},
                [error("bad refused", ["box", "maybeItems", 1, "requiredChecked"], 1, 33)],
            ),
        ),
        id="non-null-resolver-raising-in-list-item",
    ),
    pytest.param(
        Case(
            "{ box { label items { name later requiredChecked } } }",
            box(items=[item("a"), item("bad")]),
        ),
        id="non-null-resolver-raising-propagates-through-non-null-list",
    ),
    pytest.param(
        Case(
            "{ box { label maybeItems { name later asyncRequiredChecked } } }",
            box(maybe_items=[item("a"), item("bad"), item("b")]),
        ),
        id="async-non-null-resolver-raising-in-list-item",
    ),
    pytest.param(
        Case(
            "{ box { label inner { label requiredItem { name asyncRequiredChecked } } } }",
            box(inner=Box(required_item=item("bad"))),
            expected=(
                {"box": {"label": "box", "inner": None}},
                [
                    error(
                        "bad refused",
                        ["box", "inner", "requiredItem", "asyncRequiredChecked"],
                        1,
                        49,
                    )
                ],
            ),
        ),
        id="async-non-null-resolver-raising-in-nested-objects",
    ),
    pytest.param(
        Case(
            "{ slowBox { label items { name later } requiredItem { asyncChecked } } }",
            box(items=[item("a")], required_item=item("bad")),
        ),
        id="async-resolver-returning-planned-objects",
    ),
    pytest.param(
        Case(
            "{ box { resolvedItems { name later requiredChecked } } }",
            box(items=[item("a"), item("bad")]),
        ),
        id="resolver-returning-list-with-failing-item",
    ),
    pytest.param(
        Case("{ node { id ... on Item { name rank } } }", lambda: Query(node=item("n"))),
        id="interface-field",
    ),
    # --- query features -----------------------------------------------------------------------
    pytest.param(
        Case(
            "{ a: box { x: label y: label } b: box { label } c: scalars { n: number } }",
            lambda: Query(box=Box(label="l"), scalars=Scalars(number="bad")),
        ),
        id="aliases",
    ),
    pytest.param(
        Case(
            "{ box { first: items { name } second: items { id later } items { rank } } }",
            box(items=[item("a", "1"), item("b", "2")]),
            expected=(
                {
                    "box": {
                        "first": [{"name": "a"}, {"name": "b"}],
                        "second": [
                            {"id": "1", "later": "a later"},
                            {"id": "2", "later": "b later"},
                        ],
                        "items": [{"rank": None}, {"rank": None}],
                    }
                },
                [],
            ),
        ),
        id="same-field-under-different-aliases",
    ),
    pytest.param(
        Case(
            "{ box { items { name } items { id } item { name } item { rank } } }",
            box(items=[item("a")], item=item("b", rank=2)),
        ),
        id="same-field-selected-twice-merged",
    ),
    pytest.param(
        Case(
            "query { box { items { ...ItemParts } item { ...ItemParts } ...BoxParts } }"
            " fragment ItemParts on Item { id name }"
            " fragment BoxParts on Box { label items { rank } }",
            box(items=[item("a"), item("b")], item=item("c")),
        ),
        id="named-fragments",
    ),
    pytest.param(
        Case(
            "{ box { ... on Box { label } items { ... on Item { name } ... on Node { id } ... {"
            " rank } } } }",
            box(items=[item("a")]),
        ),
        id="inline-fragments",
    ),
    pytest.param(
        Case(
            "{ __typename box { __typename items { __typename name } inner { __typename } } }",
            box(items=[item("a")]),
            expected=(
                {
                    "__typename": "Query",
                    "box": {
                        "__typename": "Box",
                        "items": [{"__typename": "Item", "name": "a"}],
                        "inner": None,
                    },
                },
                [],
            ),
        ),
        id="typename",
    ),
    *(
        pytest.param(
            Case(
                "query($skip: Boolean!, $include: Boolean!) { box {"
                " label @skip(if: $skip) items @include(if: $include) { name id @skip(if: $skip) }"
                " ... on Box @include(if: $include) { inner { label } } ...Parts } }"
                " fragment Parts on Box { item @skip(if: $include) { name } }",
                box(items=[item("a")], inner=Box(label="i"), item=item("b")),
                variables={"skip": skip, "include": include},
            ),
            id=f"skip-{skip}-include-{include}".lower(),
        )
        for skip, include in [(True, True), (False, False), (True, False)]
    ),
    pytest.param(
        Case(
            "{ box { label @skip(if: true) items @include(if: true) { name id @skip(if: false) }"
            " ... on Box @include(if: false) { inner { label } } } }",
            box(items=[item("a")], inner=Box(label="i")),
            expected=({"box": {"items": [{"name": "a", "id": "a"}]}}, []),
        ),
        id="skip-and-include-literals",
    ),
]


@pytest.mark.parametrize("case", CASES)
async def test_planned_and_compiled_execution_match_stock(case: Case) -> None:
    found = await run_fast(case)
    stock = await run(STOCK, case)
    assert_all_equal(found, stock)
    if case.expected is not None:
        assert stock == case.expected


class UpperCaseStrings(SchemaExtension):
    """A per-field `resolve` hook: graphql-core middleware, which the planned path must honour."""

    def resolve(self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any):
        result = _next(root, info, *args, **kwargs)
        return result.upper() if isinstance(result, str) else result


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            Case(
                "{ box { label items { name later } scalars { text key color } } }",
                box(label="outer", items=[item("a")], scalars=Scalars()),
                expected=(
                    {
                        "box": {
                            "label": "OUTER",
                            "items": [{"name": "A", "later": "a later"}],
                            "scalars": {"text": "TEXT", "key": "KEY-1", "color": "RED"},
                        }
                    },
                    [],
                ),
            ),
            id="strings-upper-cased",
        ),
        pytest.param(
            Case(
                "{ box { label items { name requiredChecked } scalars { number } } }",
                box(items=[item("a"), item("bad")], scalars=Scalars(number=2**40)),
            ),
            id="errors",
        ),
    ],
)
async def test_resolve_extension_takes_graphql_core_path(case: Case) -> None:
    hooked = (UpperCaseStrings,)
    found = await run_fast(
        case,
        make_schema(PlannedExecutionContext, extensions=hooked),
        make_schema(CompiledExecutionContext, extensions=hooked),
        compiles=False,  # a per-field hook: graphql-core's own path for every field
    )
    stock = await run(make_schema(StrawberryGraphQLCoreExecutionContext, extensions=hooked), case)
    assert_all_equal(found, stock)
    if case.expected is not None:
        assert stock == case.expected


class CountingContext(PlannedExecutionContext):
    """Counts the fields that went through graphql-core's `execute_field`."""

    def execute_field(self, *args: Any, **kwargs: Any) -> Any:
        execute_field_calls.append(args[3].as_list())
        return super().execute_field(*args, **kwargs)


class CompiledCountingContext(CompiledExecutionContext, CountingContext):
    pass


execute_field_calls: list[list[Any]] = []


@pytest.mark.parametrize("context", [CountingContext, CompiledCountingContext])
@pytest.mark.parametrize(
    ("extensions", "expected_calls"),
    [
        pytest.param((), [["box", "items", 0, "later"]], id="fast-path"),
        pytest.param(
            (UpperCaseStrings,),
            [
                ["box"],
                ["box", "label"],
                ["box", "items"],
                ["box", "items", 0, "name"],
                ["box", "items", 0, "later"],
            ],
            id="resolve-extension",
        ),
    ],
)
async def test_plain_fields_skip_execute_field(
    context: type, extensions: tuple[type, ...], expected_calls: list[list[Any]]
) -> None:
    """The equivalence cases above exercise the fast path: only resolvers reach graphql-core
    (for the compiled context: at every execution, compiled or not yet)."""
    schema = make_schema(context, extensions=extensions)
    for _ in range(COMPILE_AT):
        execute_field_calls.clear()
        result = await schema.execute(
            "{ box { label items { name later } } }",
            root_value=Query(box=Box(items=[item("a")])),
        )
        assert result.errors is None
        assert execute_field_calls == expected_calls


# --- Edge cases where a first version differed (see the module docstring) -------------------


@strawberry.type
class Payload:
    payload: JSON | None = None


@strawberry.type
class PayloadQuery:
    holder: Payload | None = None


async def test_missing_attribute_in_lenient_scalar() -> None:
    case = Case("{ holder { payload } }", lambda: PayloadQuery(holder=SimpleNamespace()))
    found = await run_fast(
        case,
        make_schema(PlannedExecutionContext, PayloadQuery),
        make_schema(CompiledExecutionContext, PayloadQuery),
    )
    stock = await run(make_schema(StrawberryGraphQLCoreExecutionContext, PayloadQuery), case)
    assert stock == (
        {"holder": {"payload": None}},
        [
            error(
                "'types.SimpleNamespace' object has no attribute 'payload'",
                ["holder", "payload"],
                1,
                12,
            )
        ],
    )
    assert_all_equal(found, stock)


def upper_getattr(source: Any, name: str) -> Any:
    value = getattr(source, name)
    return value.upper() if isinstance(value, str) else value


# Types of this test's own: Strawberry stores the configured default resolver on the (shared)
# field definitions, so a schema built with it would change the other schemas' plain fields.
@strawberry.type
class Label:
    label: str = "label"


@strawberry.type
class LabelQuery:
    holder: Label | None = None


async def test_custom_default_resolver() -> None:
    case = Case("{ holder { label } }", lambda: LabelQuery(holder=Label(label="lower")))
    config = StrawberryConfig(default_resolver=upper_getattr)
    found = await run_fast(
        case,
        make_schema(PlannedExecutionContext, LabelQuery, config=config),
        make_schema(CompiledExecutionContext, LabelQuery, config=config),
    )
    stock = await run(
        make_schema(StrawberryGraphQLCoreExecutionContext, LabelQuery, config=config), case
    )
    assert stock == ({"holder": {"label": "LOWER"}}, [])
    assert_all_equal(found, stock)


async def awaitable_box() -> Box:
    return Box(label="awaited")


@pytest.mark.parametrize(
    ("query", "root"),
    [
        pytest.param("{ box { label } }", lambda: Query(box=awaitable_box()), id="awaitable"),
        pytest.param("{ box { inner { label } } }", box(inner=Undefined), id="undefined"),
    ],
)
async def test_awaitable_or_undefined_in_object_without_is_type_of(
    query: str, root: Callable[[], Any]
) -> None:
    case = Case(query, root)
    found = await run_fast(case)
    stock = await run(STOCK, case)
    assert_all_equal(found, stock)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            "{ box { items { asyncChecked } requiredItem { asyncChecked } } }",
            (
                {
                    "box": {
                        "items": [{"asyncChecked": None}],
                        "requiredItem": {"asyncChecked": None},
                    }
                },
                [
                    error("bad refused", ["box", "items", 0, "asyncChecked"], 1, 17),
                    error("bad refused", ["box", "requiredItem", "asyncChecked"], 1, 47),
                ],
            ),
            id="error-order",
        ),
        pytest.param(
            # Both children of `box` are non-null and fail: the first failure nulls `box` and
            # cancels the other, so only one error is reported (graphql-core: the list's).
            "{ box { items { asyncRequiredChecked } requiredItem { asyncRequiredChecked } } }",
            (
                {"box": None},
                [error("bad refused", ["box", "items", 0, "asyncRequiredChecked"], 1, 17)],
            ),
            id="reported-error",
        ),
    ],
)
async def test_single_pending_list_item(
    query: str, expected: tuple[Any, list[dict[str, Any]]]
) -> None:
    def root() -> Query:
        bad = Box(items=[item("bad")], inner=Box(item=item("bad")), required_item=item("bad"))
        return Query(box=bad)

    case = Case(query, root)
    found = await run_fast(case)
    stock = await run(STOCK, case)
    assert stock == expected
    assert_all_equal(found, stock)


async def test_pending_items_settled_after_sync_error() -> None:
    # Item c's `id` is null in a non-null field: a synchronous error after the `later` of
    # items a, b and c are pending.
    case = Case(
        "{ box { label maybeItems { later id } } }",
        box(maybe_items=[item("a"), item("b"), Item(id=None, name="c")]),
    )
    runs = []
    for schema in (STOCK, PLANNED, *[COMPILED] * COMPILE_AT):
        started.clear()
        result = await run(schema, case)
        for _ in range(20):  # let background work start
            await asyncio.sleep(0)
        runs.append((result, sorted(started)))
    (stock, stock_started), *fast = runs
    assert stock == (
        {"box": {"label": "box", "maybeItems": None}},
        [
            error(
                "Cannot return null for non-nullable field Item.id.",
                ["box", "maybeItems", 2, "id"],
                1,
                34,
            )
        ],
    )
    assert stock_started == ["a", "b", "c"]
    assert fast == [(stock, stock_started)] * len(fast)


async def test_a_selection_that_fails_to_compile_runs_planned(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in the code generator costs speed and an error in the log, never a request."""

    def broken(self: Any) -> Any:
        raise RuntimeError("generator bug")

    monkeypatch.setattr(compiled_module._Writer, "compile", broken)
    case = Case("{ box { label items { name later } } }", box(items=[item("a")]))
    found = await run_fast(case, compiled=make_schema(CompiledExecutionContext))
    assert_all_equal(found, await run(STOCK, case))
    assert "compiling a selection of Box failed; it runs planned" in caplog.text
