"""Which book a cacheable query's response belongs to, for the response cache's per-book epochs
(service.response_cache): a query whose only root field is `book(id: ...)` and whose selection
stays within that book is scoped to it, so a rating of another book does not make its cached
response stale.

"Stays within the book" is an allow-list of object fields (parent type, field): the book's
figures, authors, reviews (with their readers, comments and the book itself) and page info.
Fields that lead to other books or to other books' entries (User.reviews, Author.books) are not
on it, nor is anything added to the schema later: such a query keeps the global epoch. Scalar
and enum fields are allowed anywhere; what they show that a rating of another book could change
is covered by the shared epoch, which every batch of other events advances (see
service.response_cache). The walk (schema.selections) runs before validation, so it tolerates
unknown fields and fragments (the query is then not scoped: it fails, and failures are never
cached); directives are not evaluated, so a @skip'ped field counts.
"""

from collections import OrderedDict
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
)

from schema.selections import Fragments, fields_of, fragments_of
from service.errors import BadUserInput
from service.ids import from_global_id

# Object fields whose values belong to the same book as their parent.
WITHIN_BOOK = frozenset(
    {
        ("Book", "authors"),
        ("Book", "ratingStats"),
        ("Book", "shelfCounts"),
        ("Book", "reviews"),
        ("Book", "friendsReviews"),
        ("Book", "viewerReview"),
        ("RatingStats", "histogram"),
        ("ReviewConnection", "edges"),
        ("ReviewConnection", "pageInfo"),
        ("ReviewEdge", "node"),
        ("Review", "book"),
        ("Review", "user"),
        ("Review", "comments"),
        ("CommentConnection", "edges"),
        ("CommentConnection", "pageInfo"),
        ("CommentEdge", "node"),
        ("Comment", "user"),
        ("Comment", "review"),
    }
)
CACHE_SIZE = 1024

# The book id's place in an operation: a literal global id, or the name of a variable.
_Source = tuple[str, str]  # ("literal" | "variable", value)


def _within(
    parent: GraphQLObjectType,
    selections: SelectionSetNode,
    fragments: Fragments,
    entered: frozenset[str] = frozenset(),
) -> bool:
    for field_node, _, inside in fields_of(selections, fragments, entered):
        name = field_node.name.value
        if name == "__typename":
            continue
        field = parent.fields.get(name)
        if field is None:
            return False
        if field_node.selection_set is None:
            continue
        child = get_named_type(field.type)
        if not isinstance(child, GraphQLObjectType) or (parent.name, name) not in WITHIN_BOOK:
            return False
        if not _within(child, field_node.selection_set, fragments, inside):
            return False
    return True


def _source(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> _Source | None:
    """Where the operation's book id comes from, when it is scoped to one book."""
    if operation.operation is not OperationType.QUERY:
        return None
    [*selections] = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    root = selections[0]
    if root.name.value != "book" or root.selection_set is None:
        return None
    [*arguments] = root.arguments or ()
    if len(arguments) != 1 or arguments[0].name.value != "id":
        return None
    value = arguments[0].value
    book_type = schema.get_type("Book")
    if not isinstance(book_type, GraphQLObjectType) or not _within(
        book_type, root.selection_set, fragments_of(document)
    ):
        return None
    if isinstance(value, StringValueNode):
        return ("literal", value.value)
    if isinstance(value, VariableNode):
        return ("variable", value.name.value)
    return None


class BookScopes:
    """The book scope of operations, worked out once per parsed operation (the parse cache
    hands out one node per document text, so its identity is the key, as for validation)."""

    def __init__(self, schema: GraphQLSchema, maxsize: int = CACHE_SIZE) -> None:
        self.schema = schema
        self.maxsize = maxsize
        self._sources: OrderedDict[int, tuple[OperationDefinitionNode, _Source | None]] = (
            OrderedDict()
        )

    def book_of(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
    ) -> str | None:
        """The book (ObjectId hex) this operation's response is scoped to; None: global."""
        key = id(operation)
        entry = self._sources.get(key)
        if entry is None or entry[0] is not operation:
            entry = (operation, _source(self.schema, document, operation))
            self._sources[key] = entry
            if len(self._sources) > self.maxsize:
                self._sources.popitem(last=False)
        source = entry[1]
        if source is None:
            return None
        kind, value = source
        raw = value if kind == "literal" else (variables or {}).get(value)
        if not isinstance(raw, str):
            return None
        try:
            return str(from_global_id(raw, "Book", "id"))
        except BadUserInput:
            return None
