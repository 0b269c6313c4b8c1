"""Abuse limits checked before execution: depth, aliases, tokens and a cost model in which a
list field multiplies the cost of what it selects by its `first` (or its default)."""

from collections.abc import Callable
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    Visitor,
    get_named_type,
    visit,
)
from graphql.type import GraphQLField, GraphQLInterfaceType, GraphQLObjectType
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    SchemaExtension,
)
from strawberry.extensions.query_depth_limiter import create_validator

from schema.selections import fields_of, fragments_of
from service.validation import PAGE_MAX

CONNECTION_SUFFIX = "Connection"


def _first_argument(node: FieldNode, definition: GraphQLField) -> int:
    """The page size a connection field asks for: its literal `first`; the largest page for a
    variable (validation runs before variables are known); else the argument's default."""
    for argument in node.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            if isinstance(value, IntValueNode):
                return min(max(int(value.value), 1), PAGE_MAX)
            if isinstance(value, VariableNode):
                return PAGE_MAX
    arg = definition.args.get("first")
    default = arg.default_value if arg is not None else None
    return default if isinstance(default, int) and default > 0 else 1


def cost_limit_rule(max_cost: int) -> type[ValidationRule]:
    """A validation rule refusing operations whose estimated cost exceeds `max_cost`."""

    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments = fragments_of(context.document)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            schema = self.context.schema
            root = schema.get_root_type(node.operation)
            if root is None:
                return
            cost = self._selection_cost(node.selection_set, root, frozenset())
            if cost > max_cost:
                name = node.name.value if node.name else "anonymous"
                self.report_error(
                    GraphQLError(
                        f"operation '{name}' is too expensive: estimated cost {cost} exceeds"
                        f" the limit of {max_cost} (lists count as their `first`)",
                        node,
                    )
                )

        def _selection_cost(
            self, selection_set: SelectionSetNode | None, parent: Any, entered: frozenset[str]
        ) -> int:
            total = 0
            for field, condition, inside in fields_of(selection_set, self.fragments, entered):
                target = parent
                if condition is not None:
                    target = self.context.schema.get_type(condition.name.value) or parent
                total += self._field_cost(field, target, inside)
            return total

        def _field_cost(self, node: FieldNode, parent: Any, entered: frozenset[str]) -> int:
            if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
                return 0
            definition = parent.fields.get(node.name.value)
            if definition is None:
                return 0
            field_type = definition.type
            inner = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
            named = get_named_type(field_type)
            children = self._selection_cost(node.selection_set, named, entered)
            if named.name.endswith(CONNECTION_SUFFIX):
                return 1 + _first_argument(node, definition) * max(children, 1)
            if isinstance(inner, GraphQLList):
                return 1 + max(children, 1)
            return 1 + children

    return CostLimit


def depth_limit_rule(max_depth: int) -> type[ValidationRule]:
    """strawberry's depth rule, run only when every fragment spread names a defined fragment:
    its traversal indexes the document's fragments by name and fails with a KeyError (an
    internal error) on an unknown one, which KnownFragmentNamesRule refuses anyway."""
    depth_rule = create_validator(max_depth, None)

    class DepthLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            defined = {
                d.name.value
                for d in context.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            spread: set[str] = set()

            class Spreads(Visitor):
                def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
                    spread.add(node.name.value)

            visit(context.document, Spreads())
            if spread <= defined:
                depth_rule(context)

    return DepthLimit


class Limits:
    """The limit settings, gathered so the schema can build its extensions from them."""

    def __init__(self, max_depth: int, max_aliases: int, max_cost: int) -> None:
        self.max_depth = max_depth
        self.max_aliases = max_aliases
        self.max_cost = max_cost

    def extensions(self) -> list[Callable[[], SchemaExtension]]:
        # The validation rules are classes made once here, not per request: ValidationCache
        # is keyed by the rules, so new classes on every request would never hit it.
        rules = [
            depth_limit_rule(self.max_depth),
            *MaxAliasesLimiter(max_alias_count=self.max_aliases).validation_rules,
            cost_limit_rule(self.max_cost),
        ]
        return [lambda: AddValidationRules(rules)]
