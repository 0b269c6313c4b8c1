"""Direct execution: a query whose operation is compiled runs without Strawberry's extension
runner.

`Schema.execute` makes every request pay for its extension machinery: an execution context,
an instance of each extension, a runner that enters every hook of every extension (operation,
parse, validate, execute) as a context manager, and a middleware manager, about a fifth of a
book page's CPU above the driver. For an operation that schema.compiled has compiled, all
that the hooks decide is known already:

- parsing (schema.documents.ParsedDocument): the transport parsed it through the same cache;
- validation (schema.validation_cache, schema.limits' rules, DisableIntrospection): the rules
  are fixed per schema and graphql-core executes (hence compiles) only a document that passed
  them, so a compiled operation is valid;
- schema.guard.OperationGuard: its rate limits apply to mutations only (a query hits none),
  and its metrics are observed here the same way (operation name, error codes);
- no extension resolves fields (no middleware), and a query is allowed over GET and POST.

Its resolvers are called without Strawberry's per-call wrapper (schema.direct_resolvers,
through graphql-core's middleware hook), for the fields whose wrapper decides nothing more.

From its first direct execution on, the operation runs as one program
(schema.compiled_operation: the whole operation generated, resolvers included, without
graphql-core's executor) whenever its values are all the plain case; otherwise (an error, a
value the program does not handle) it runs again through graphql-core as below.

The result is what `Schema.execute` returns for it: the same executor class and arguments,
errors processed by the schema (classification, field suggestions removed in production)
once, and an unexpected exception answered as a pre-execution error. The endpoint uses it only
when the schema's extensions are the known ones above (`DirectExecution.of`), so an extension
added later is never skipped silently: the operation then takes `Schema.execute`.
"""

import time
from typing import Any

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, OperationType
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import AddValidationRules
from strawberry.schema._graphql_core import execution_context_class_kwargs
from strawberry.types import ExecutionResult
from strawberry.utils.await_maybe import await_maybe

from schema.compiled import compilations_of
from schema.compiled_operation import Program, build_program
from schema.definition import BookSchema
from schema.direct_resolvers import DirectResolvers
from schema.documents import ParsedDocument
from schema.guard import OperationGuard, observe_operation
from schema.validation_cache import DocumentValidationCache

# The extensions whose hooks decide nothing more for a compiled query (see above).
KNOWN_EXTENSIONS = (ParsedDocument, DocumentValidationCache, AddValidationRules, OperationGuard)


class _Execution:
    """What BookSchema.process_errors reads of Strawberry's execution context."""

    __slots__ = ("context",)

    def __init__(self, context: Any) -> None:
        self.context = context


class DirectExecution:
    def __init__(self, schema: BookSchema) -> None:
        self.schema = schema
        self.compilations = compilations_of(schema._schema)
        self.execute_function = schema._get_execute_function()
        self.executor_kwargs = execution_context_class_kwargs(schema.execution_context_class)
        self.middleware = DirectResolvers(schema)

    @classmethod
    def of(cls, schema: BookSchema) -> "DirectExecution | None":
        """Direct execution for this schema; None when one of its extensions is not known to
        decide nothing for a compiled query (or resolves fields, or there are directives)."""
        extensions = schema.get_extensions()
        if schema.directives or not all(
            isinstance(extension, KNOWN_EXTENSIONS) and not extension._implements_resolve()
            for extension in extensions
        ):
            return None
        return cls(schema)

    def covers(self, operation: OperationDefinitionNode) -> bool:
        """Whether this operation is a query that has been compiled (hence validated)."""
        return (
            operation.operation is OperationType.QUERY
            and self.compilations.ready(operation) is not None
        )

    def program(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        context: Any,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> Program | None:
        """The operation's program (schema.compiled_operation), written at its first direct
        execution; None when it is not covered."""
        compilation = self.compilations.ready(operation)
        if compilation is None:
            return None
        if compilation.program is None:
            executor = self.executor_kwargs["executor_class"].build(
                self.schema._schema,
                document,
                None,
                context,
                variables,
                operation_name,
                middleware=self.middleware,
                is_awaitable=optimized_is_awaitable,
            )
            if isinstance(executor, list):  # invalid variables: written at a later request
                return None
            compilation.program = build_program(executor, operation, self.middleware) or False
        return compilation.program or None

    async def execute(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        context: Any,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        started = time.perf_counter()
        program = self.program(document, operation, context, variables, operation_name)
        if program is not None:
            try:
                ran = await program.run(context, variables)
            except Exception:  # not the plain case: graphql-core runs it (below) and reports
                pass
            else:
                name = operation.name.value if operation.name else None
                observe_operation(context, name, started, ())
                return ExecutionResult(data=ran, errors=None)
        schema = self.schema
        try:
            raw = await await_maybe(
                self.execute_function(
                    schema._schema,
                    document,
                    root_value=None,
                    middleware=self.middleware,
                    variable_values=variables,
                    operation_name=operation_name,
                    context_value=context,
                    is_awaitable=optimized_is_awaitable,
                    operation_extensions=operation_extensions,
                    **self.executor_kwargs,
                )
            )
            data, errors = raw.data, raw.errors
        except Exception as exc:  # as Schema.execute: a pre-execution error
            error = (
                exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
            )
            data, errors = None, [error]
        if errors:
            schema._process_errors(errors, _Execution(context))  # type: ignore[arg-type]
        observe_operation(
            context, operation.name.value if operation.name else None, started, errors or ()
        )
        return ExecutionResult(data=data, errors=errors)
