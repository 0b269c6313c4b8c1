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
