"""Parsed GraphQL documents, cached by their text: the one place a document is parsed.

The HTTP transport parses a request's document first (it needs the operation's type before it
executes: GET may not mutate, only queries are cached) and hands the parsed document to the
execution through the context (`Context.parsed`), where `ParsedDocument` finds it. WebSocket
operations, which arrive through Strawberry's protocol handler, are parsed by the same
extension through the same cache. Either way a request costs one lookup.
"""

from collections import OrderedDict
from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, OperationDefinitionNode, parse
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension


class DocumentCache:
    """An LRU map from document text to its parsed form, with the token limit applied."""

    def __init__(self, max_tokens: int, maxsize: int = 1024) -> None:
        self.max_tokens = max_tokens
        self.maxsize = maxsize
        self._entries: OrderedDict[str, DocumentNode] = OrderedDict()

    def parse(self, text: str) -> DocumentNode:
        """The parsed document; a GraphQLError (syntax, too many tokens) is not cached."""
        entries = self._entries
        document = entries.get(text)
        if document is not None:
            entries.move_to_end(text)
            return document
        document = parse(text, max_tokens=self.max_tokens)
        entries[text] = document
        if len(entries) > self.maxsize:
            entries.popitem(last=False)
        return document


def selected_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    """The operation a request runs; None when the name matches none or is ambiguous."""
    return get_operation_ast(document, operation_name)


class ParsedDocument(SchemaExtension):
    """Sets the execution's document: the one the transport parsed, else from the cache."""

    def __init__(self, documents: DocumentCache) -> None:
        super().__init__()
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        execution = self.execution_context
        # Also for Strawberry's own parse after a failure here: it must refuse the same way.
        execution.parse_options["max_tokens"] = self.documents.max_tokens
        if execution.graphql_document is None:
            query = execution.query
            parsed = getattr(execution.context, "parsed", {}).get(query) if query else None
            if parsed is None and query:
                try:
                    parsed = self.documents.parse(query)
                except GraphQLError:  # Strawberry parses again and reports it
                    parsed = None
            execution.graphql_document = parsed
        yield
