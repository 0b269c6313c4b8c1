"""What kind of operation a document runs, parsed once per distinct document."""

from functools import lru_cache

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse


@lru_cache(maxsize=1024)
def operation_type(document: str, operation_name: str | None) -> OperationType | None:
    """The type of the operation a request selects; None when it cannot be told."""
    try:
        parsed = parse(document)
    except GraphQLError:
        return None
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    return operations[0].operation if len(operations) == 1 else None


@lru_cache(maxsize=1024)
def mutation_fields(document: str, operation_name: str | None) -> tuple[str, ...]:
    """The root field names of the mutation a request runs (empty for other operations)."""
    parsed = parse(document)
    for definition in parsed.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name is not None and (
            definition.name is None or definition.name.value != operation_name
        ):
            continue
        if definition.operation is not OperationType.MUTATION:
            return ()
        return tuple(
            s.name.value for s in definition.selection_set.selections if hasattr(s, "name")
        )
    return ()
