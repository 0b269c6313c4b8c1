"""Validation results cached by the parsed document's identity.

Strawberry's ValidationCache is an `lru_cache` over (schema, document, rules): every lookup
hashes the whole syntax tree, node by node (3 % of a book page's CPU). ParserCache already
hands out one DocumentNode per query text, so the node's identity is as good a key and costs
nothing to compute. An entry holds its document, so its `id` cannot be reused while cached.
"""

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

_Key = tuple[int, tuple[type, ...]]


class DocumentValidationCache(SchemaExtension):
    def __init__(self, entries: "OrderedDict[_Key, tuple[Any, list[Any]]]", maxsize: int) -> None:
        super().__init__()
        self.entries = entries
        self.maxsize = maxsize

    @classmethod
    def factory(cls, maxsize: int) -> Any:
        """An extension factory whose instances (one per request) share one cache."""
        entries: OrderedDict[_Key, tuple[Any, list[Any]]] = OrderedDict()
        return lambda: cls(entries, maxsize)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is None:  # not parsed (a parse error was reported already)
            yield
            return
        rules = context.validation_rules
        key = (id(document), rules)
        entry = self.entries.get(key)
        if entry is not None and entry[0] is document:
            self.entries.move_to_end(key)
            errors = entry[1]
        else:
            errors = validate_document(context.schema._schema, document, rules)
            self.entries[key] = (document, errors)
            if len(self.entries) > self.maxsize:
                self.entries.popitem(last=False)
        context.pre_execution_errors = errors
        yield
