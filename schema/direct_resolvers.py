"""Strawberry's resolvers without their wrapper, for direct execution (schema.direct).

Strawberry calls every resolver through a chain made for the general case: an Info object,
each argument's GraphQL name worked out again through the name converter and converted,
field extensions reduced over, the source and the Info injected by parameter name, and
`await_maybe` around an async resolver. That is some fifty calls per resolver field; a book
page has four. For a field without extensions (hence without permissions) in a schema
without exception handlers, everything the chain decides is fixed per field, so it is worked
out once here: which parameter gets the source, the parent, the root and the Info, and how
each argument converts (as it is for the built-in scalars, Strawberry's own conversion for
anything else).

graphql-core takes these functions through its middleware hook (`get_field_resolver`), so
it still computes the arguments, builds the ResolveInfo, completes the value and reports
errors as it does for Strawberry's resolvers; a field this module does not cover keeps
Strawberry's. tests/test_execution_equivalence.py runs every query through both.
"""

from collections.abc import Callable
from enum import Enum
from typing import Any

from graphql import GraphQLObjectType, GraphQLResolveInfo
from graphql.execution import MiddlewareManager
from strawberry import ID, Schema
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import StrawberryArgument, convert_argument
from strawberry.types.base import StrawberryMaybe, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.field import StrawberryField

Resolver = Callable[..., Any]
Converter = Callable[[Any, Any], Any]

# Converted values kept per enum argument (as many as an enum has members, in practice).
ENUM_CACHE_SIZE = 64
# Argument types whose GraphQL value is the Python value (Strawberry returns it as it is).
BUILT_IN_SCALARS = (str, int, float, bool, ID)


def _converter(argument: StrawberryArgument, graphql_name: str, schema: Schema) -> Converter | None:
    """How the argument's value converts: None (as it is) for a built-in scalar or null,
    else Strawberry's convert_argument."""
    kind: Any = argument.type
    inner = kind.of_type if isinstance(kind, StrawberryOptional) else kind
    if any(inner is scalar for scalar in BUILT_IN_SCALARS):
        return None
    converter = schema.schema_converter
    config, registry, path = schema.config, converter.scalar_registry, (graphql_name,)

    # An optional argument's null is None (Strawberry's conversion says so after a few checks;
    # a page's unused filters are null). Maybe[...] keeps its own rules.
    null_is_none = isinstance(kind, StrawberryOptional) and not isinstance(kind, StrawberryMaybe)

    def convert(value: Any, info: Any) -> Any:
        if value is None and null_is_none:
            return None
        return convert_argument(value, kind, registry, config, info, path=path)

    if not (
        isinstance(inner, StrawberryEnumDefinition)
        or (isinstance(inner, type) and issubclass(inner, Enum))
    ):
        return convert
    # An enum's members are few and immutable: each converted once (a page's `sort`).
    members: dict[Any, Any] = {}

    def convert_member(value: Any, info: Any) -> Any:
        try:
            found = members.get(value, members)
        except TypeError:  # not hashable
            return convert(value, info)
        if found is members:  # not converted yet
            found = convert(value, info)
            if len(members) < ENUM_CACHE_SIZE:
                members[value] = found
        return found

    return convert_member


def direct_resolver(field: StrawberryField, schema: Schema) -> Resolver | None:
    """The field's resolver called as Strawberry would call it; None when the field has
    extensions or permissions (or no resolver of its own)."""
    resolver = field.base_resolver
    if resolver is None or field.extensions or field.permission_classes:
        return None
    function = resolver.wrapped_func
    if not callable(function):
        return None
    config = schema.config
    info_class = config.info_class
    pass_source = resolver.self_parameter is not None
    source_names = [
        parameter.name
        for parameter in (resolver.parent_parameter, resolver.root_parameter)
        if parameter is not None
    ]
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
    as_they_are: list[tuple[str, str]] = []
    converted: list[tuple[str, str, Converter]] = []
    for argument in field.arguments:
        assert argument.python_name
        graphql_name = config.name_converter.from_argument(argument)
        converter = _converter(argument, graphql_name, schema)
        if converter is None:
            as_they_are.append((graphql_name, argument.python_name))
        else:
            converted.append((graphql_name, argument.python_name, converter))

    def resolve(source: Any, raw_info: GraphQLResolveInfo, **values: Any) -> Any:
        info = info_class(_raw_info=raw_info, _field=field)
        kwargs = {
            python_name: values[graphql_name]
            for graphql_name, python_name in as_they_are
            if graphql_name in values
        }
        for graphql_name, python_name, convert in converted:
            if graphql_name in values:
                kwargs[python_name] = convert(values[graphql_name], info)
        for name in source_names:
            kwargs[name] = source
        if info_name is not None:
            kwargs[info_name] = info
        if pass_source:
            return function(source, **kwargs)
        return function(**kwargs)

    return resolve


class DirectResolvers(MiddlewareManager):
    """graphql-core's middleware hook used to swap each Strawberry resolver for its direct
    call; no middleware runs (schema.compiled compiles under it: `middlewares` is empty)."""

    def __init__(self, schema: Schema) -> None:
        super().__init__()
        self.direct: dict[Resolver, Resolver] = {}
        if schema.schema_converter.exception_handlers:  # their handling is in the chain
            return
        for graphql_type in schema._schema.type_map.values():
            if not isinstance(graphql_type, GraphQLObjectType):
                continue
            for graphql_field in graphql_type.fields.values():
                definition = (graphql_field.extensions or {}).get(
                    GraphQLCoreConverter.DEFINITION_BACKREF
                )
                if graphql_field.resolve is None or not isinstance(definition, StrawberryField):
                    continue
                direct = direct_resolver(definition, schema)
                if direct is not None:
                    self.direct[graphql_field.resolve] = direct

    def get_field_resolver(self, field_resolver: Resolver) -> Resolver:
        return self.direct.get(field_resolver, field_resolver)
