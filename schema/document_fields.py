"""Fields that GraphQL objects read straight off their source document.

A book page builds a Review and a User for every review it shows; building them by copying
every field out of the document cost more than executing the fields a page selects (most
pages select half of them). A document-backed type holds its document and declares each such
field as a `document_field`: a resolver of the object alone that reads the document when the
field is selected. The planned and compiled executions (schema.execution, schema.compiled)
know these fields by their metadata and read the document without the resolver's machinery;
graphql-core's stock execution calls the resolver, which does the same read.

Mutation payloads show figures computed after the write (schema.payload_figures): on a
document-backed object they replace the stored figures in a copy of its document.
"""

from collections.abc import Callable
from typing import Any

import strawberry

from service.mongo import Document

# Field metadata holding the field's `Read` of the document.
DOCUMENT = "document"


class Read:
    """How a field's value comes out of the document: `document.get(key, default)`, or a
    function of the document (which may raise, as building the value would)."""

    __slots__ = ("default", "function", "key")

    def __init__(
        self, key: str = "", default: Any = None, function: Callable[[Document], Any] | None = None
    ) -> None:
        self.key = key
        self.default = default
        self.function = function

    def __call__(self, document: Document) -> Any:
        if self.function is not None:
            return self.function(document)
        return document.get(self.key, self.default)


def document_field(
    key: str = "",
    default: Any = None,
    *,
    value: Callable[[Document], Any] | None = None,
    **field_options: Any,
) -> Any:
    """A Strawberry field whose value is the document's `key` (or `default` when absent), or
    `value(document)`; its type is the annotation of the class attribute it is assigned to."""
    read = Read(key, default, value)

    def resolve(self: Any) -> Any:
        return read(self.doc)

    return strawberry.field(resolver=resolve, metadata={DOCUMENT: read}, **field_options)


def require(document: Document, *keys: str) -> None:
    """KeyError for the first key the document lacks: what reading every field when the object
    was built raised, so a document missing what each must have fails where it did."""
    for key in keys:
        if key not in document:
            raise KeyError(key)


class DocumentFigures:
    """Figures shown in a mutation's payload replace the document's stored ones (in a copy:
    the request's loaders share the documents they fetched)."""

    doc: Document

    def show_figures(self, figures: dict[str, Any]) -> None:
        self.doc = {**self.doc, **figures}


class AttributeFigures:
    """Figures shown in a mutation's payload replace the object's attributes."""

    def show_figures(self, figures: dict[str, Any]) -> None:
        for attribute, value in figures.items():
            setattr(self, attribute, value)
