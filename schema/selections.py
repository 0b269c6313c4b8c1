"""Walking a document's selections through inline fragments and fragment spreads: the one
walker the resolvers (what a field selects), the guard (which mutations run) and the cost
limit (what a query would fetch) share.

Directives are not evaluated (a @skip'ped field counts), and a fragment is never entered twice
on one path (fields below included), so a cycle cannot loop: validation refuses cycles, but a
validation rule may walk a document before that refusal.
"""

from collections.abc import Iterator, Mapping
from typing import NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    NamedTypeNode,
    SelectionSetNode,
)

Fragments = Mapping[str, FragmentDefinitionNode]


class Selected(NamedTuple):
    field: FieldNode
    # The type condition of the innermost fragment the field sits in (None: the selection
    # set's own type).
    type_condition: NamedTypeNode | None
    # The fragments entered on the way here: pass them on when walking the field's own
    # selections.
    entered: frozenset[str]


def fields_of(
    selection_set: SelectionSetNode | None,
    fragments: Fragments,
    entered: frozenset[str] = frozenset(),
    type_condition: NamedTypeNode | None = None,
) -> Iterator[Selected]:
    """The fields directly under `selection_set`, through fragments."""
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield Selected(selection, type_condition, entered)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition or type_condition
            yield from fields_of(selection.selection_set, fragments, entered, condition)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in entered:
                yield from fields_of(
                    fragment.selection_set, fragments, entered | {name}, fragment.type_condition
                )


def selects(
    selection_set: SelectionSetNode | None,
    path: tuple[str, ...],
    fragments: Fragments,
    entered: frozenset[str] = frozenset(),
) -> bool:
    """Whether the field names `path` are selected, one under the other, below `selection_set`."""
    for field, _, inside in fields_of(selection_set, fragments, entered):
        if field.name.value == path[0] and (
            len(path) == 1 or selects(field.selection_set, path[1:], fragments, inside)
        ):
            return True
    return False


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The fragment definitions of a document, by name."""
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
