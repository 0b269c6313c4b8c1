"""Execution compiled per document: each selection of a validated operation becomes a Python
function, generated once, that writes the selection's response object straight from the
source object, the way graphql-jit compiles queries for graphql-js.

The planned execution (schema.execution) already skips graphql-core's per-field machinery for
fields that are attribute reads, but it still interprets: every request collects each
selection again (graphql-core memoizes that per request only), looks up each field's plan,
dispatches on its kind and goes through graphql-core's `complete_value` and
`execute_collected_subfields` for every object. A book page of 30 reviews does that for some
90 objects and 500 fields. Compiled, a selection is one function with the field names, the
attribute names and the scalar checks written into its code, calling the functions of its
sub-selections directly.

What a compilation covers and what it leaves to graphql-core:

- A compilation belongs to one operation of one parsed document (the document cache hands
  out one DocumentNode per text, so it is found again by the operation node's identity) and
  one schema. Its selections are collected once (graphql-core's `collect_subfields`) and kept
  for the document's later requests. An operation whose collection could depend on the
  variables (@skip or @include with a variable, fragment arguments) is not compiled; nor are
  subscriptions, nor anything while graphql-core middleware (a per-field extension hook) is
  installed.
- A document is compiled at its second execution (COMPILE_AT): one that is sent once never
  costs a compilation, so unique documents cannot make every request pay for code
  generation. Until then, and for everything not compiled, the planned execution runs.
- The root selection stays graphql-core's (its fields are resolvers). Every other selection
  reached through graphql-core (`collect_subfields`) runs its compiled function.
- In a compiled selection, fields that the planned execution would plan (schema.execution: attribute
  reads of leaves, objects and lists of objects, prefetched objects, document fields, whose key is
  read inline) are written inline, and so is `__typename`; each of them takes graphql-core's
  `execute_field` as soon as its value is not the plain case (null in a non-null field, a value the
  scalar would coerce or refuse, a missing attribute, an object of the wrong type, an awaitable such
  as a mutation payload's computed figure). An attribute listing non-null strings or booleans
  (Book.genres) is written inline when every item is of that type. Resolvers, arguments,
  abstract types and other lists of scalars take `execute_field` always. Errors, their paths
  and null propagation therefore stay graphql-core's: a compiled object field handles what its
  sub-selection raises with graphql-core's `handle_field_error`, as `execute_field` does, and
  awaitables are gathered as graphql-core gathers them. An object whose class is the type's
  own Strawberry class (not cast) needs no `is_type_of` or awaitable check; the items of a list
  of objects are completed in the generated loop itself. tests/test_execution_equivalence.py runs
  every query through both and through graphql-core's stock execution.
- A selection whose code cannot be generated (a bug here) runs planned, with an error in the
  log (`bookservice.compiled`), rather than failing the request.
"""

import datetime
import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    visit,
)
from graphql.language import Visitor
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.schema.types.base_scalars import isoformat
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE

from schema.execution import (
    _MISSING,
    LEAF,
    OBJECT,
    OBJECT_LIST,
    Plan,
    PlannedExecutionContext,
    _leaf_value,
    _read,
    plan_of,
    verbatim_list_of,
)

log = logging.getLogger("bookservice.compiled")

# The execution of an operation at which it is compiled (1: the first; 2: the second, ...).
COMPILE_AT = 2
# Operations per schema whose compilation is kept, the least recently used dropped.
CACHE_SIZE = 1024
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

Run = Callable[[Any, Any, Path, Any], Any]

# A Path without the Python frame of its NamedTuple constructor: new_path((prev, key, type)).
new_path = partial(tuple.__new__, Path)

# Scalars whose output coercion is Strawberry's isoformat, by the Python type it takes as is.
ISOFORMAT_SCALARS = {"DateTime": datetime.datetime, "Date": datetime.date}


def exact_classes(object_type: GraphQLObjectType) -> tuple[type, ...]:
    """The Python classes whose instances are, by their type alone, plain objects of this
    GraphQL type (not awaitable; Strawberry's `is_type_of` true unless cast to another type):
    the Strawberry definition's class and, for a specialized generic, the generic's."""
    definition = (object_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    origin = getattr(definition, "origin", None)
    if origin is None:
        return ()
    classes = [origin]
    concrete_of = getattr(definition, "concrete_of", None)
    if concrete_of is not None and getattr(concrete_of, "origin", None) is not None:
        classes.append(concrete_of.origin)
    return tuple(c for c in classes if isinstance(c, type) and not hasattr(c, "__await__"))


class _UsesVariableDirective(Visitor):
    """Finds what makes field collection depend on the variables."""

    found = False

    def enter_directive(self, node: Any, *_: Any) -> None:
        if any(isinstance(argument.value, VariableNode) for argument in node.arguments or ()):
            self.found = True

    def enter_fragment_definition(self, node: Any, *_: Any) -> None:
        if node.variable_definitions:
            self.found = True


def collection_is_static(nodes: list[Any]) -> bool:
    """Whether collecting these definitions' fields gives the same result for any variables."""
    finder = _UsesVariableDirective()
    for node in nodes:
        visit(node, finder)
    return not finder.found


class Compilation:
    """One operation's collected selections and their functions, kept across requests."""

    __slots__ = ("collected", "executions", "functions", "operation", "program", "ready")

    def __init__(self, operation: OperationDefinitionNode) -> None:
        self.operation = operation
        self.executions = 0
        # Whether this operation is compiled (False: it runs planned, every time or until
        # its COMPILE_AT-th execution).
        self.ready = False
        # (return type, field nodes' ids) -> graphql-core's collected fields of that selection
        self.collected: dict[tuple[Any, ...], Any] = {}
        # id(grouped field set) -> (that grouped field set, its function)
        self.functions: dict[int, tuple[Any, Run | None]] = {}
        # The whole operation as one program (schema.compiled_operation), written at its
        # first direct execution: None until then, False when it is not covered.
        self.program: Any = None


class Compilations:
    """One schema's compilations, by operation node identity (least recently used dropped)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        # id(operation) -> (the operation, kept so that its id is not reused; its compilation,
        # None when it is not compiled)
        self.entries: OrderedDict[int, tuple[Any, Compilation | None]] = OrderedDict()

    def ready(self, operation: OperationDefinitionNode) -> Compilation | None:
        """This operation's compilation when it has been compiled (hence validated:
        graphql-core executes only valid documents), else None."""
        entry = self.entries.get(id(operation))
        if entry is None or entry[0] is not operation or entry[1] is None:
            return None
        return entry[1] if entry[1].ready else None

    def of(self, executor: "CompiledExecutionContext") -> Compilation | None:
        """The operation's compilation once it is due, else None (run it planned)."""
        operation = executor.operation
        key = id(operation)
        entries = self.entries
        if key in entries:
            entries.move_to_end(key)
            compilation = entries[key][1]
        else:
            compilation = None
            if operation.operation is not OperationType.SUBSCRIPTION and collection_is_static(
                [operation, *executor.fragment_definitions.values()]
            ):
                compilation = Compilation(operation)
            entries[key] = (operation, compilation)
            if len(entries) > self.size:
                entries.popitem(last=False)
        if compilation is None:
            return None
        if not compilation.ready:
            compilation.executions += 1
            compilation.ready = compilation.executions >= COMPILE_AT
            if not compilation.ready:
                return None
        return compilation


# Each schema's compilations, dropped with the schema.
COMPILATIONS: WeakKeyDictionary[GraphQLSchema, Compilations] = WeakKeyDictionary()


def compilations_of(schema: GraphQLSchema) -> Compilations:
    found = COMPILATIONS.get(schema)
    if found is None:
        found = COMPILATIONS[schema] = Compilations()
    return found


class CompiledExecutionContext(PlannedExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        middleware = self.middleware_manager
        hooked = middleware is not None and bool(getattr(middleware, "middlewares", None))
        self.compilation = None if hooked else compilations_of(self.schema).of(self)

    def collect_subfields(self, return_type: GraphQLObjectType, field_details_list: Any) -> Any:
        compilation = self.compilation
        if compilation is None:
            return super().collect_subfields(return_type, field_details_list)
        key = (return_type, *(id(details.node) for details in field_details_list))
        collected = compilation.collected.get(key)
        if collected is None:
            collected = super().collect_subfields(return_type, field_details_list)
            compilation.collected[key] = collected
            grouped = collected[0]
            # Compiled when first executed (None until then); only grouped field sets kept
            # here are ever compiled, so an id cannot be reused while it is a key.
            compilation.functions[id(grouped)] = (grouped, None)
        return collected

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        compilation = self.compilation
        if compilation is not None:
            known = compilation.functions.get(id(grouped_field_set))
            if known is not None and known[0] is grouped_field_set:
                run = known[1]
                if run is None:
                    compiler = _SelectionCompiler(self, compilation)
                    run = compiler.function(parent_type, grouped_field_set)
                assert path is not None  # a sub-selection, never the root
                return run(self, source_value, path, position_context)
        # The root selection, and every selection of an operation that is not compiled.
        return super().execute_fields(
            parent_type, source_value, path, grouped_field_set, position_context
        )

    # --- helpers the generated code calls ------------------------------------------------

    def compiled_failed(self, pending: list[str], results: dict[str, Any]) -> None:
        """A field raised: what other fields started must still settle (as graphql-core)."""
        if pending:
            self.settle_in_background([results[key] for key in pending])


class _SelectionCompiler:
    """Writes the function of one selection (and, through it, of its sub-selections)."""

    def __init__(self, executor: CompiledExecutionContext, compilation: Compilation) -> None:
        self.executor = executor
        self.compilation = compilation

    def function(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> Run:
        functions = self.compilation.functions
        grouped, run = functions[id(grouped_field_set)]
        assert grouped is grouped_field_set  # only collected selections are compiled
        if run is None:
            try:
                run = _Writer(self, parent_type, grouped_field_set).compile()
            except Exception:  # a bug here must not fail requests: this selection runs planned
                log.exception("compiling a selection of %s failed; it runs planned", parent_type)
                run = _planned(parent_type, grouped_field_set)
            functions[id(grouped_field_set)] = (grouped_field_set, run)
        return run

    def sub_function(self, object_type: GraphQLObjectType, field_details_list: Any) -> Run | None:
        """The function of a field's sub-selection; None when graphql-core must run it."""
        grouped, defer_usages, _ = self.executor.collect_subfields(object_type, field_details_list)
        if defer_usages:
            return None
        return self.function(object_type, grouped)


def _planned(parent_type: GraphQLObjectType, grouped_field_set: Any) -> Run:
    def run(ex: Any, source: Any, path: Path, position_context: Any) -> Any:
        return PlannedExecutionContext.execute_fields(
            ex, parent_type, source, path, grouped_field_set, position_context
        )

    return run


class _Writer:
    """The source of one selection's function."""

    def __init__(self, compiler: Any, parent_type: Any, grouped: Any) -> None:
        self.compiler = compiler
        self.parent_type = parent_type
        self.grouped = grouped
        self.names: dict[str, Any] = {
            "new_path": new_path,
            "Undefined": Undefined,
            "CAST": TYPE_CAST_ATTRIBUTE,
            "dict": dict,
            "list": list,
            "MISSING": _MISSING,
            "isfinite": math.isfinite,
            "leaf_value": _leaf_value,
            "read_document": _read,
            "PARENT": parent_type,
        }
        self.lines: list[str] = []
        self.reads_document = False

    def constant(self, value: Any) -> str:
        name = f"c{len(self.names)}"
        self.names[name] = value
        return name

    def emit(self, indent: int, *lines: str) -> None:
        self.lines.extend(" " * indent + line for line in lines)

    # The function's head and tail around its fields (which are written in a `try` block).
    PROLOGUE: tuple[str, ...] = (
        "def run(ex, source, path, pc):",
        "    is_awaitable = ex.is_awaitable",
        "    results = {}",
        "    pending = []",
        "    try:",
    )
    EPILOGUE: tuple[str, ...] = (
        "    except Exception:",
        "        ex.compiled_failed(pending, results)",
        "        raise",
        "    if not pending:",
        "        return results",
        "    return ex._awaited_fields(results, pending)",
    )

    # How the object's document is read (before its first document field), and whether it is
    # then known to be a dict.
    DOCUMENT: tuple[str, ...] = ("doc = getattr(source, 'doc', MISSING)",)
    DOCUMENT_IS_DICT = False

    def attribute_read(self, attribute: str) -> str:
        """The source's attribute, MISSING when it has none."""
        return f"getattr(source, {attribute!r}, MISSING)"

    def compile(self) -> Any:
        self.emit(0, *self.PROLOGUE)
        header = len(self.lines)
        for response_name, field_details_list in self.grouped.items():
            self.field(response_name, field_details_list)
        self.emit(8, "pass")  # a selection may hold no field (all of it skipped)
        if self.reads_document:  # the object's document, read once for its document fields
            self.lines[header:header] = [" " * 8 + line for line in self.DOCUMENT]
        self.emit(0, *self.EPILOGUE)
        source = "\n".join(self.lines)
        filename = f"<compiled selection of {self.parent_type.name}>"
        # The document's text reaches the source only as repr() literals (response names).
        exec(compile(source, filename, "exec"), self.names)
        run = self.names["run"]
        run.__doc__ = source  # what was generated, for whoever debugs it
        return run

    def field(self, response_name: str, field_details_list: Any) -> None:
        first: FieldNode = field_details_list[0].node
        name = repr(response_name)
        details = self.constant(field_details_list)
        if first.name.value == "__typename":
            self.emit(8, f"results[{name}] = {self.parent_type.name!r}")
            return
        field = self.parent_type.fields.get(first.name.value)
        plan = plan_of(field) if field is not None else None
        if plan is None or field is None:
            listed = verbatim_list_of(field) if field is not None else None
            if listed is not None:
                self.verbatim_list(name, details, *listed)
            else:
                self.slow(8, name, details)
            return
        value = self.attribute_read(plan.attribute)
        if plan.read is not None:  # a document field (schema.document_fields)
            self.reads_document = True
            read = plan.read
            if read.function is None:  # inline: the document's key, or its default
                default = self.constant(read.default)
                fallback = f"read_document({self.constant(read)}, doc)"
                value = f"doc.get({read.key!r}, {default})"
                if not self.DOCUMENT_IS_DICT:
                    value += f" if type(doc) is dict else {fallback}"
            else:  # its function; a failure leaves the field to graphql-core (as _read)
                self.emit(
                    8,
                    "try:",
                    f"    v = {self.constant(read.function)}(doc)",
                    "except Exception:",
                    "    v = MISSING",
                )
                value = "v"
        if plan.kind == LEAF:
            self.leaf(plan, name, details, value)
        elif plan.kind in (OBJECT, OBJECT_LIST):
            self.object(plan, field, name, details, value, field_details_list)

    def slow(self, indent: int, name: str, details: str) -> None:
        """graphql-core's execute_field for this field."""
        self.emit(
            indent,
            f"r = ex.execute_field(PARENT, source, {details}, new_path((path, {name},"
            f" {self.parent_type.name!r})), pc)",
            "if r is not Undefined:",
            f"    results[{name}] = r",
            "    if is_awaitable(r):",
            f"        pending.append({name})",
        )

    def verbatim_list(
        self, name: str, details: str, attribute: str, item: type, non_null: bool
    ) -> None:
        """A list of non-null strings or booleans: completed, it is a list of the same items."""
        self.emit(
            8,
            f"v = {self.attribute_read(attribute)}",
            f"if type(v) is list and all(type(x) is {item.__name__} for x in v):",
            f"    results[{name}] = list(v)",
        )
        if not non_null:
            self.emit(8, "elif v is None:", f"    results[{name}] = None")
        self.emit(8, "else:")
        self.slow(12, name, details)

    def leaf(self, plan: Plan, name: str, details: str, value: str) -> None:
        if value != "v":  # else read into v already
            self.emit(8, f"v = {value}")
        identity = plan.identity_type
        if identity in (str, bool):
            self.emit(8, f"if type(v) is {identity.__name__}:", f"    results[{name}] = v")
        elif identity is int:
            self.emit(
                8,
                f"if type(v) is int and {INT_MIN} <= v <= {INT_MAX}:",
                f"    results[{name}] = v",
            )
        elif identity is float:
            self.emit(8, "if type(v) is float and isfinite(v):", f"    results[{name}] = v")
        else:  # enums and custom scalars: their own output coercion
            plan_name = self.constant(plan)
            coerce = f"Undefined if v is None or v is MISSING else leaf_value({plan_name}, v)"
            iso_type = ISOFORMAT_SCALARS.get(plan.of_type.name)
            if iso_type is not None and plan.of_type.coerce_output_value is isoformat:
                coerce = f"v.isoformat() if type(v) is {self.constant(iso_type)} else {coerce}"
            self.emit(
                8,
                f"c = {coerce}",
                "if c is not Undefined:",
                f"    results[{name}] = c",
            )
        if not plan.non_null:
            self.emit(8, "elif v is None:", f"    results[{name}] = None")
        self.emit(8, "else:")
        self.slow(12, name, details)

    def object_check(self, object_type: GraphQLObjectType, is_type_of: Any) -> str:
        """An expression true when `x` is an object of this type, ready now (as _plain_object).
        Its class alone says so for the Strawberry classes of the type (unless cast); other
        values take the general check."""
        general = "x is not None and x is not MISSING and x is not Undefined"
        general += " and not is_awaitable(x)"
        if is_type_of is not None:
            general += f" and {self.constant(is_type_of)}(x, None)"
        classes = exact_classes(object_type)
        fast = f"type(x) in {self.constant(frozenset(classes))}" if classes else "False"
        if is_type_of is not None:
            fast += " and getattr(x, CAST, None) is None"
        return f"({fast}) or ({general})"

    def object(
        self,
        plan: Plan,
        field: GraphQLField,
        name: str,
        details: str,
        value: str,
        field_details_list: Any,
    ) -> None:
        run = self.compiler.sub_function(plan.of_type, field_details_list)
        if run is None:
            self.slow(8, name, details)
            return
        run_name = self.constant(run)
        field_name, type_name = self.constant(field), self.constant(field.type)
        self.emit(8, f"v = {value}")
        check = self.object_check(plan.of_type, plan.is_type_of)
        if plan.kind == OBJECT:
            self.emit(8, "x = v", f"ok = {check}")
        else:
            self.emit(
                8,
                "ok = type(v) is list",
                "if ok:",
                "    for x in v:",
                f"        if not ({check}):",
                "            ok = False",
                "            break",
            )
        if not plan.non_null and not plan.resolver_fallback:
            self.emit(8, "if v is None:", f"    results[{name}] = None", "elif ok:")
        else:
            self.emit(8, "if ok:")
        self.emit(12, f"p = new_path((path, {name}, {self.parent_type.name!r}))")
        if plan.kind == OBJECT:
            self.emit(
                12,
                "try:",
                f"    r = {run_name}(ex, v, p, pc)",
                "except Exception as error:  # as graphql-core's execute_field",
                f"    ex.handle_field_error(error, {type_name}, {details}, p)",
                "    r = None",
                "if r is not None and type(r) is not dict:",
            )
        else:
            # As _planned_items: each item completed at its index path, awaited together.
            self.emit(
                12,
                "r = []",
                "waiting = None",
                "try:",
                "    for i, x in enumerate(v):",
                f"        y = {run_name}(ex, x, new_path((p, i, None)), pc)",
                "        if type(y) is not dict and is_awaitable(y):",
                "            if waiting is None:",
                "                waiting = []",
                "            waiting.append(i)",
                "        r.append(y)",
                "except Exception as error:  # as graphql-core's execute_field",
                "    if waiting is not None:",
                "        ex.settle_in_background([r[i] for i in waiting])",
                f"    ex.handle_field_error(error, {type_name}, {details}, p)",
                "    r = None",
                "else:",
                "    if waiting is not None:",
                "        r = ex._awaited_items(r, waiting)",
                "if r is not None and type(r) is not list:",
            )
        self.emit(
            12,
            f"    r = ex._awaited_field(r, {field_name}, {details}, p)",
            f"    pending.append({name})",
            f"results[{name}] = r",
        )
        self.emit(8, "else:")
        self.slow(12, name, details)


def _compilations_in(document: DocumentNode, schema: Any) -> list[Compilation]:
    """The compiled operations of `document` for `schema` (for tests and benchmarks)."""
    compilations = compilations_of(schema)
    found = (
        compilations.ready(definition)
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
    )
    return [compilation for compilation in found if compilation is not None]


def is_compiled(document: DocumentNode, schema: Any) -> bool:
    """Whether an operation of `document` has been compiled for `schema` (the first execution
    of a document runs planned)."""
    return bool(_compilations_in(document, schema))


def runs_as_program(document: DocumentNode, schema: Any) -> bool:
    """Whether an operation of `document` runs as one program (schema.compiled_operation):
    written at its first direct execution, after it is compiled."""
    return any(compilation.program for compilation in _compilations_in(document, schema))
