"""A compiled query run as one generated program: resolvers included, without graphql-core's
executor, for the requests whose values are all the plain case.

schema.compiled writes each selection of an operation as a function, but the operation still
runs through graphql-core: an executor built per request (variables coerced through the
general input coercion, root fields collected again), and for every resolver field its
`execute_field` (argument values worked out from the AST, a ResolveInfo, the value completed
through the type wrappers, awaited through a chain of coroutines). On a book page that was
most of what remained above hand-written code (bench/RESULTS.md).

Here the whole operation is generated once, when the direct execution (schema.direct) first
runs it: the root selection and every sub-selection as functions (the writer of
schema.compiled, with the same inline reads), each resolver field as a direct call with its
arguments taken from constants and the coerced variables, its ResolveInfo built as one tuple,
and its value completed by a function generated for the field's type. Sibling awaitables are
awaited together (the first in the current task, each other in a task of its own), a single
one without a task; paths are plain tuples, made graphql-core Paths only for a resolver's info.

The program handles only the plain case. Anything else (an exception from a resolver, null
in a non-null field, a value a scalar would coerce or refuse, an object of another type, a
variable that needs more than the built-in scalars' checks) abandons the run (`Irregular`),
and the operation runs again through graphql-core (schema.direct), which reports errors with
their paths and null propagation as always. Queries only read, so running one again changes
nothing; the request's loaders keep what they already fetched. What the program does not
cover at all (abstract types, arguments with nested variables, @defer, a field without a
resolver or plan) leaves the operation on graphql-core from the start.
tests/test_execution_equivalence.py compares it with graphql-core's stock execution.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from types import CoroutineType
from typing import Any

from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    VariableNode,
    is_required_argument,
)
from graphql.execution.collect_fields import collect_fields
from graphql.execution.get_variable_signature import get_variable_signature
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    coerce_argument,
    get_variable_values,
    maybe_use_default_value,
)
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.types.base_scalars import isoformat

from schema.compiled import (
    INT_MAX,
    INT_MIN,
    ISOFORMAT_SCALARS,
    CompiledExecutionContext,
    _Writer,
    new_path,
)
from schema.execution import (
    _IDENTITY_TYPES,
    Plan,
    _generated_is_type_of,
    awaited_items,
    plan_of,
    verbatim_list_of,
)

log = logging.getLogger("bookservice.compiled")

# A ResolveInfo without the Python frame of its NamedTuple constructor; the program writes
# its members in this order (another graphql-core leaves operations on graphql-core).
new_info = partial(tuple.__new__, GraphQLResolveInfo)
RESOLVE_INFO_FIELDS = (
    "field_name",
    "field_nodes",
    "return_type",
    "parent_type",
    "path",
    "schema",
    "fragments",
    "root_value",
    "operation",
    "variable_values",
    "context",
    "is_awaitable",
    "abort_signal",
    "async_helpers",
)

Selection = Callable[["RunState", Any, Path | None], Any]
Complete = Callable[["RunState", Any, Path], Any]


def as_path(link: Any) -> Path | None:
    """graphql-core's Path of a path of the program, whose links are plain tuples (prev, key,
    type name): made only for a resolver's ResolveInfo (a Path per object cost more)."""
    if link is None:
        return None
    return new_path((as_path(link[0]), link[1], link[2]))


class Irregular(Exception):
    """A value the program does not handle: the operation runs through graphql-core."""


class NotCovered(Exception):
    """Something the program is not written for: the operation stays on graphql-core."""


IRREGULAR = Irregular()


def _untracked(values: Any) -> None:
    raise Irregular("async_helpers.track is graphql-core's")


def _gather(values: Any) -> Awaitable[list[Any]]:
    return gather_with_cancel(*values)


# Resolvers' async helpers: gather as graphql-core does; tracked work is graphql-core's.
HELPERS = GraphQLResolveInfoHelpers(gather=_gather, track=_untracked)


class RunState:
    """What the program's functions share during one request."""

    __slots__ = ("coerced", "context", "variables")

    def __init__(self, context: Any, variables: VariableValues) -> None:
        self.context = context
        self.variables = variables
        self.coerced = variables.coerced


def discard(awaitables: list[Any]) -> None:
    """Awaitables not to be awaited (the run is abandoned): no coroutine left unawaited. A
    future is left alone: a loader's future stays in the request's loader, where the run of
    graphql-core that follows finds it (cancelled, it would cancel that run)."""
    for awaitable in awaitables:
        if type(awaitable) is CoroutineType:
            awaitable.close()
        elif isinstance(awaitable, Later):
            awaitable.discard()


class Later:
    """An object or list some of whose values are awaitables: awaited once as a whole, or
    discarded with the awaitables it holds (a coroutine closed before it starts would leave
    those unawaited)."""

    __slots__ = ("held", "state", "values")

    def __init__(self, state: RunState | None, values: Any, held: list[Any]) -> None:
        self.state = state
        self.values = values  # the results dict, or the list of completed items
        self.held = held  # pending fields, or the indices of the items still awaitable

    def __await__(self) -> Any:
        if self.state is None:
            return awaited_items(self.values, self.held, gather_together).__await__()
        return settle(self.state, self.values, self.held).__await__()

    def discard(self) -> None:
        if self.state is None:
            discard([self.values[i] for i in self.held])
        else:
            discard([item[1] for item in self.held])


async def together(awaitables: list[Any]) -> list[Any]:
    """The values of several awaitables awaited concurrently: the first in this task, each
    other in a task of its own (asyncio.gather would make one for the first too).

    Not graphql-core's gather_with_cancel: on a failure it cancels the others, and a task
    cancelled while it awaits a loader's future cancels that future, which the run of
    graphql-core that follows would find (see discard). The others finish on their own,
    their errors observed; only when this task is cancelled are they cancelled too."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables[1:]]
    values = []
    try:
        values.append(await awaitables[0])
        for task in tasks:
            values.append(await task)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        raise
    except BaseException:
        for task in tasks:
            task.add_done_callback(_observe)
        raise
    return values


def gather_together(*awaitables: Any) -> Awaitable[list[Any]]:
    return together(list(awaitables))


def _observe(task: asyncio.Future[Any]) -> None:
    """A task whose value nobody awaits any more: its error is not 'never retrieved'."""
    if not task.cancelled():
        task.exception()


async def settle(state: RunState, results: dict[str, Any], pending: list[Any]) -> dict[str, Any]:
    """An object whose fields in `pending` (name, awaitable, completion or None, path) are
    awaited: one without a task, several together; then each value is completed, and what
    completing them leaves to await is awaited the same way."""
    while pending:
        if len(pending) == 1:
            values = [await pending[0][1]]
        else:
            values = await together([item[1] for item in pending])
        left: list[Any] = []
        try:
            for (name, _, complete, path), value in zip(pending, values, strict=True):
                if complete is not None:
                    value = complete(state, value, path)
                    if type(value) is not dict and optimized_is_awaitable(value):
                        left.append((name, value, None, path))
                results[name] = value
        except BaseException:
            discard([item[1] for item in left])
            raise
        pending = left
    return results


class _Variables:
    """The operation's variables coerced as graphql-core coerces them: inline for values the
    built-in scalars take as they are, graphql-core's own coercion for anything else."""

    def __init__(self, schema: GraphQLSchema, operation: OperationDefinitionNode) -> None:
        self.schema = schema
        self.definitions = operation.variable_definitions or ()
        # (name, signature, verbatim Python type or None, non-null, default or _NO_DEFAULT)
        self.entries: list[tuple[str, Any, type | None, bool, Any]] = []
        for definition in self.definitions:
            signature = get_variable_signature(schema, definition)
            if isinstance(signature, GraphQLError):
                raise NotCovered(signature.message)
            kind: Any = signature.type
            non_null = isinstance(kind, GraphQLNonNull)
            inner = kind.of_type if non_null else kind
            # A built-in scalar's input coercion returns a value of its output's Python type
            # unchanged (an int for an ID, a float's int are converted: the general case).
            verbatim = _IDENTITY_TYPES.get(inner)
            default: dict[str, Any] = {}
            if definition.default_value is not None:
                maybe_use_default_value(default, signature.name, signature, _refuse)
            self.entries.append(
                (
                    signature.name,
                    signature,
                    verbatim,
                    non_null,
                    default.get(signature.name, _NO_DEFAULT),
                )
            )

    def coerce(self, raw: dict[str, Any] | None) -> VariableValues:
        inputs = raw or {}
        sources: dict[str, Any] = {}
        coerced: dict[str, Any] = {}
        for name, signature, verbatim, non_null, default in self.entries:
            value = inputs.get(name, Undefined)
            if value is Undefined:
                sources[name] = VariableValueSource(signature)
                if default is not _NO_DEFAULT:
                    coerced[name] = default
                elif non_null:
                    raise IRREGULAR
                continue
            sources[name] = VariableValueSource(signature, value)
            if value is None and not non_null:
                coerced[name] = None
            elif verbatim is not None and type(value) is verbatim and _in_range(value):
                coerced[name] = value
            else:  # a value the scalar converts, or another type: graphql-core's coercion
                found = get_variable_values(self.schema, self.definitions, inputs)
                if isinstance(found, list):  # errors, which graphql-core reports
                    raise IRREGULAR
                return found
        return VariableValues(sources, coerced)


_NO_DEFAULT = object()


def _refuse(error: GraphQLError, *_: Any) -> None:
    raise NotCovered(error.message)


def _in_range(value: Any) -> bool:
    """Whether Int and Float take this value as it is (32 bits; finite)."""
    if type(value) is int:
        return INT_MIN <= value <= INT_MAX
    if type(value) is float:
        return value - value == 0.0  # false for inf and nan
    return True


def _uses_variable(node: Any) -> bool:
    if isinstance(node, VariableNode):
        return True
    values = getattr(node, "values", None) or [f.value for f in getattr(node, "fields", ())]
    return any(_uses_variable(value) for value in values)


class _Arguments:
    """A field node's argument values as graphql-core's get_argument_values makes them: the
    literals and defaults once, each bare variable per request."""

    def __init__(self, field: GraphQLField, node: FieldNode) -> None:
        self.constants: dict[str, Any] = {}
        # (name passed to the resolver, variable, non-null, value when the variable is absent:
        # a default, _NO_DEFAULT (omitted) or Irregular (required))
        self.variables: list[tuple[str, str, bool, Any]] = []
        given = {argument.name.value: argument for argument in node.arguments or ()}
        for name, definition in field.args.items():
            argument = given.get(name)
            try:
                if argument is not None and isinstance(argument.value, VariableNode):
                    absent: dict[str, Any] = {}
                    out_name = definition.out_name or name
                    if is_required_argument(definition):
                        when_absent: Any = IRREGULAR
                    else:
                        coerce_argument(absent, node, name, definition, None, None, None)
                        when_absent = absent.get(out_name, _NO_DEFAULT)
                    non_null = isinstance(definition.type, GraphQLNonNull)
                    self.variables.append(
                        (out_name, argument.value.name.value, non_null, when_absent)
                    )
                elif argument is not None and _uses_variable(argument.value):
                    raise NotCovered("an argument with a variable inside a list or object")
                else:
                    coerce_argument(self.constants, node, name, definition, argument, None, None)
            except GraphQLError as error:
                raise NotCovered(error.message) from None


class _ProgramWriter(_Writer):
    """One selection of the program: schema.compiled's inline reads, with every other case
    abandoning the run, and resolver fields called directly."""

    PROLOGUE: tuple[str, ...] = (
        "def run(st, source, path):",
        "    results = {}",
        "    pending = None",
        "    try:",
    )
    EPILOGUE: tuple[str, ...] = (
        "    except BaseException:",
        "        if pending is not None:",
        "            discard([item[1] for item in pending])",
        "        raise",
        "    if pending is None:",
        "        return results",
        "    return Later(st, results, pending)",
    )

    DOCUMENT = (
        "doc = source.doc",
        "if type(doc) is not dict:",
        "    raise IRREGULAR",
    )
    DOCUMENT_IS_DICT = True

    def attribute_read(self, attribute: str) -> str:
        # A missing attribute raises AttributeError, which abandons the run like Irregular.
        if not attribute.isidentifier():
            return super().attribute_read(attribute)
        return f"source.{attribute}"

    def __init__(self, compiler: "_ProgramCompiler", parent_type: Any, grouped: Any) -> None:
        super().__init__(compiler, parent_type, grouped)
        self.program = compiler
        self.names.update(
            is_awaitable=optimized_is_awaitable,
            Later=Later,
            as_path=as_path,
            discard=discard,
            IRREGULAR=IRREGULAR,
            new_info=new_info,
            SCHEMA=compiler.schema,
            FRAGMENTS=compiler.fragments,
            OPERATION=compiler.operation,
            HELPERS=HELPERS,
            in_range=_in_range,
        )

    def field(self, response_name: str, field_details_list: Any) -> None:
        name = field_details_list[0].node.name.value
        if name == "__typename":
            super().field(response_name, field_details_list)
            return
        field = self.parent_type.fields.get(name)
        if field is None:  # a meta field (__schema, __type)
            raise NotCovered(f"{self.parent_type.name}.{name}")
        if plan_of(field) is None and verbatim_list_of(field) is None:
            self.resolver(8, repr(response_name), field, field_details_list)
        else:
            super().field(response_name, field_details_list)

    def slow(self, indent: int, name: str, details: str) -> None:
        self.emit(indent, "raise IRREGULAR")

    def object(
        self,
        plan: Plan,
        field: GraphQLField,
        name: str,
        details: str,
        value: str,
        field_details_list: Any,
    ) -> None:
        complete = self.constant(self.program.completer(field.type, field_details_list))
        self.emit(8, f"v = {value}")
        indent = 8
        if plan.resolver_fallback:  # None: not fetched beforehand, the resolver fetches it
            self.emit(8, "if v is None:")
            self.resolver(12, name, field, field_details_list)
            self.emit(8, "else:")
            indent = 12
        self.emit(indent, f"p = (path, {name}, {self.parent_type.name!r})")
        direct = self.direct_object(field.type, field_details_list)
        if direct is None:
            self.emit(indent, f"r = {complete}(st, v, p)")
        else:  # the plain object's selection without the completion's call
            check, selection = direct
            self.emit(
                indent,
                "x = v",
                f"if {check}:",
                f"    r = {selection}(st, v, p)",
                "else:",
                f"    r = {complete}(st, v, p)",
            )
        self.emit(indent, f"results[{name}] = r")
        self.pend_completed(indent, name)

    def direct_object(self, field_type: Any, field_details_list: Any) -> tuple[str, str] | None:
        """(check of x, selection) for a type that is an object type (null or not), else
        None."""
        inner = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
        if not isinstance(inner, GraphQLObjectType):
            return None
        usable, is_type_of = _generated_is_type_of(inner)
        if not usable:
            return None
        selection = self.constant(self.program.selection(inner, field_details_list))
        return self.object_check(inner, is_type_of), selection

    def pend_completed(self, indent: int, name: str) -> None:
        self.emit(
            indent,
            "if type(r) is not dict and is_awaitable(r):",
            "    if pending is None:",
            "        pending = []",
            f"    pending.append(({name}, r, None, p))",
        )

    def resolver(
        self, indent: int, name: str, field: GraphQLField, field_details_list: Any
    ) -> None:
        """The field's resolver called directly (as graphql-core calls it), its value completed
        now or, when it is awaitable, once awaited."""
        if field.resolve is None:
            raise NotCovered(f"{self.parent_type.name}.{name}: no resolver")
        program = self.program
        resolve = self.constant(program.resolvers.get_field_resolver(field.resolve))
        complete = self.constant(program.completer(field.type, field_details_list))
        node = field_details_list[0].node
        arguments = _Arguments(field, node)
        nodes = self.constant([details.node for details in field_details_list])
        info = (
            f"new_info(({node.name.value!r}, {nodes}, {self.constant(field.type)}, PARENT,"
            " as_path(p), SCHEMA, FRAGMENTS, None, OPERATION, st.variables, st.context,"
            " is_awaitable, None, HELPERS))"
        )
        self.emit(indent, f"p = (path, {name}, {self.parent_type.name!r})")
        call = f"r = {resolve}(source, {info})"
        if arguments.constants or arguments.variables:
            self.emit(indent, f"kw = {self.constant(arguments.constants)}.copy()")
            for out_name, variable, non_null, when_absent in arguments.variables:
                self.emit(indent, f"v = st.coerced.get({variable!r}, MISSING)", "if v is MISSING:")
                if when_absent is IRREGULAR:
                    self.emit(indent + 4, "raise IRREGULAR")
                elif when_absent is _NO_DEFAULT:
                    self.emit(indent + 4, "pass")
                else:
                    self.emit(indent + 4, f"kw[{out_name!r}] = {self.constant(when_absent)}")
                if non_null:
                    self.emit(indent, "elif v is None:", "    raise IRREGULAR")
                self.emit(indent, "else:", f"    kw[{out_name!r}] = v")
            call = f"r = {resolve}(source, {info}, **kw)"
        self.emit(
            indent,
            call,
            "if is_awaitable(r):",
            f"    results[{name}] = None",
            "    if pending is None:",
            "        pending = []",
            f"    pending.append(({name}, r, {complete}, p))",
            "else:",
            f"    r = {complete}(st, r, p)",
            f"    results[{name}] = r",
        )
        self.pend_completed(indent + 4, name)


class _ProgramCompiler:
    """Writes one operation's program: its selections and the completions of its fields."""

    def __init__(
        self,
        executor: CompiledExecutionContext,
        operation: OperationDefinitionNode,
        resolvers: Any,
    ) -> None:
        self.executor = executor
        self.schema = executor.schema
        self.fragments = executor.fragment_definitions
        self.operation = operation
        self.resolvers = resolvers  # schema.direct_resolvers.DirectResolvers
        self.selections: dict[int, tuple[Any, Selection]] = {}
        self.completers: dict[tuple[int, int], tuple[Any, Any, Complete]] = {}

    def root(self) -> Selection:
        root_type = self.schema.get_root_type(self.operation.operation)
        if root_type is None:
            raise NotCovered("no root type")
        executor = self.executor
        grouped, defer_usages, _ = collect_fields(
            self.schema, executor.fragments, executor.variable_values, root_type, self.operation
        )
        if defer_usages:
            raise NotCovered("@defer")
        return self.write(root_type, grouped)

    def selection(self, object_type: GraphQLObjectType, field_details_list: Any) -> Selection:
        grouped, defer_usages, _ = self.executor.collect_subfields(object_type, field_details_list)
        if defer_usages:
            raise NotCovered("@defer")
        return self.write(object_type, grouped)

    def write(self, object_type: GraphQLObjectType, grouped: Any) -> Selection:
        known = self.selections.get(id(grouped))
        if known is None:
            run: Selection = _ProgramWriter(self, object_type, grouped).compile()
            known = self.selections[id(grouped)] = (grouped, run)
        return known[1]

    def completer(self, field_type: Any, field_details_list: Any) -> Complete:
        """complete(state, value, path) for a value of this type: the completed value, an
        awaitable of it, or Irregular."""
        key = (id(field_type), id(field_details_list))
        known = self.completers.get(key)
        if known is None:
            writer = _ProgramWriter(self, field_type, {})
            complete = _CompletionWriter(writer, field_details_list).compile(field_type)
            known = self.completers[key] = (field_type, field_details_list, complete)
        return known[2]


class _CompletionWriter:
    """The source of complete(st, v, p) for one output type."""

    def __init__(self, writer: _ProgramWriter, field_details_list: Any) -> None:
        self.writer = writer  # for its names and constants
        self.field_details_list = field_details_list
        self.lines: list[str] = ["def complete(st, v, p):"]

    def compile(self, field_type: Any) -> Complete:
        self.value(4, field_type)
        source = "\n".join(self.lines)
        names = self.writer.names
        exec(compile(source, f"<completion of {field_type}>", "exec"), names)
        complete: Complete = names["complete"]
        complete.__doc__ = source
        return complete

    def emit(self, indent: int, *lines: str) -> None:
        self.lines.extend(" " * indent + line for line in lines)

    def value(self, indent: int, field_type: Any) -> None:
        """Lines that return v completed as field_type (v is the value)."""
        if isinstance(field_type, GraphQLNonNull):
            self.emit(indent, "if v is None:", "    raise IRREGULAR")
            inner = field_type.of_type
        else:
            self.emit(indent, "if v is None:", "    return None")
            inner = field_type
        constant = self.writer.constant
        if isinstance(inner, GraphQLScalarType | GraphQLEnumType):
            identity = _IDENTITY_TYPES.get(inner)
            if identity is not None:
                check = f"type(v) is {identity.__name__}"
                if identity in (int, float):
                    check += " and in_range(v)"
                self.emit(indent, f"if {check}:", "    return v")
            coerce = inner.coerce_output_value
            iso_type = ISOFORMAT_SCALARS.get(inner.name)
            if iso_type is not None and coerce is isoformat:
                self.emit(
                    indent, f"if type(v) is {constant(iso_type)}:", "    return v.isoformat()"
                )
            self.emit(
                indent,
                f"c = {constant(coerce)}(v)",
                "if c is None or c is Undefined:",
                "    raise IRREGULAR",
                "return c",
            )
        elif isinstance(inner, GraphQLObjectType):
            direct = self.writer.direct_object(inner, self.field_details_list)
            if direct is None:
                raise NotCovered(f"{inner.name}: a user-defined is_type_of")
            check, selection = direct
            self.emit(indent, "x = v", f"if {check}:", f"    return {selection}(st, v, p)")
            self.emit(indent, "raise IRREGULAR")
        elif isinstance(inner, GraphQLList):
            item = constant(self.writer.program.completer(inner.of_type, self.field_details_list))
            complete_item = f"y = {item}(st, x, (p, i, None))"
            self.emit(
                indent,
                "if type(v) is not list:",
                "    raise IRREGULAR",
                "out = []",
                "waiting = None",
                "try:",
                "    for i, x in enumerate(v):",
            )
            direct = self.writer.direct_object(inner.of_type, self.field_details_list)
            if direct is None:
                self.emit(indent + 8, complete_item)
            else:  # a plain object's selection without the completion's call
                check, selection = direct
                self.emit(
                    indent + 8,
                    f"if {check}:",
                    f"    y = {selection}(st, x, (p, i, None))",
                    "else:",
                    f"    {complete_item}",
                )
            self.emit(
                indent,
                "        if type(y) is not dict and is_awaitable(y):",
                "            if waiting is None:",
                "                waiting = []",
                "            waiting.append(i)",
                "        out.append(y)",
                "except BaseException:",
                "    if waiting is not None:",
                "        discard([out[i] for i in waiting])",
                "    raise",
                "if waiting is None:",
                "    return out",
                "return Later(None, out, waiting)",
            )
        else:  # interfaces and unions
            raise NotCovered(f"the abstract type {inner}")


class Program:
    """One operation's program and its variables."""

    def __init__(self, variables: _Variables, root: Selection) -> None:
        self.variables = variables
        self.root = root

    async def run(self, context: Any, raw_variables: dict[str, Any] | None) -> dict[str, Any]:
        """The operation's data; Irregular (or what a resolver raised) when graphql-core must
        run it."""
        state = RunState(context, self.variables.coerce(raw_variables))
        data = self.root(state, None, None)
        if optimized_is_awaitable(data):
            data = await data
        return data


def build_program(
    executor: CompiledExecutionContext, operation: OperationDefinitionNode, resolvers: Any
) -> Program | None:
    """The operation's program; None when it is not covered (it stays on graphql-core)."""
    try:
        if GraphQLResolveInfo._fields != RESOLVE_INFO_FIELDS:
            raise NotCovered("graphql-core's ResolveInfo is not the one the program writes")
        variables = _Variables(executor.schema, operation)
        root = _ProgramCompiler(executor, operation, resolvers).root()
    except NotCovered as reason:
        log.debug("operation %s stays on graphql-core: %s", operation.name, reason)
        return None
    except Exception:  # a bug here must not fail requests: the operation stays on graphql-core
        log.exception("writing the program of an operation failed; it runs on graphql-core")
        return None
    return Program(variables, root)
