"""Figures in mutation payloads: computed from the source documents after the write.

Stored figures lag behind a write until the worker has applied its event, and normalized
client caches (Apollo, urql, Relay) keep whatever a payload says: `likeReview` answering the
old `likesCount` would show the viewer's like as not counted. Adding this write's delta to the
stored figure cannot be exact (a recomputation that read the sources before the write and
stored after it is ambiguous; a repeated like has no delta but may predate the first one's
recomputation), so every object that carries figures and is built while a mutation executes
gets each figure replaced by a `Computed`: an awaitable that graphql-core awaits only when
the payload selects that field, and that loads its figure part (service.repositories.figures:
one command per part for the whole payload) from the sources, read after the write. The
viewer's write then counts exactly once, whatever the worker has done; the worker stays the
only writer of stored figures. Queries never get here: they read stored figures off the
document or the object (the planned and compiled executions' fast paths); a `Computed` where
a figure is read takes graphql-core's own path, which awaits it.
"""

from collections.abc import Callable, Generator, Mapping
from operator import itemgetter
from typing import Any, ClassVar, Protocol

from bson import ObjectId
from graphql import OperationType

from schema.context import Info
from schema.dataloader import DataLoader
from service.mongo import Document
from service.repositories.figures import Figures, Part

# attribute of a GraphQL object -> (the part that computes it, how to read it off the figures)
ComputedFields = Mapping[str, tuple[Part, Callable[[Figures], Any]]]


class Computed[T]:
    """One figure of a payload object, loaded when (and only if) it is awaited."""

    __slots__ = ("_loader", "_oid", "_read")

    def __init__(
        self,
        loader: DataLoader[ObjectId, Figures],
        oid: ObjectId,
        read: Callable[[Figures], T],
    ) -> None:
        self._loader = loader
        self._oid = oid
        self._read = read

    def __await__(self) -> Generator[Any, None, T]:
        return self._value().__await__()

    async def _value(self) -> T:
        return self._read(await self._loader.load(self._oid))


def stored_as(**parts: Part) -> ComputedFields:
    """Attributes named as the stored figure each part computes (`likes_count`, ...)."""
    return {attribute: (part, itemgetter(attribute)) for attribute, part in parts.items()}


class CarriesFigures(Protocol):
    """A GraphQL object whose figures a payload computes: its document, which they are, and
    how it shows them instead of the stored ones (schema.document_fields)."""

    doc: Document
    COMPUTED: ClassVar[ComputedFields]

    def show_figures(self, figures: dict[str, Any]) -> None: ...


class Connection(Protocol):
    edges: list[Any]  # each with a `node` that carries figures


class PayloadFigures:
    """The figure loaders of one mutation field's payload."""

    __slots__ = ("_info", "_payload")

    def __init__(self, info: Info, payload: str) -> None:
        self._info = info
        self._payload = payload

    def overlay[C: CarriesFigures](self, obj: C) -> C:
        """`obj` with each of its figures replaced by a `Computed` (the GraphQL fields keep
        their plain types, and graphql-core awaits what it resolves)."""
        loaders = self._info.context.loaders
        oid = obj.doc["_id"]
        obj.show_figures(
            {
                attribute: Computed(loaders.computed_figures(self._payload, part), oid, read)
                for attribute, (part, read) in obj.COMPUTED.items()
            }
        )
        return obj

    def overlay_nodes[K: Connection](self, connection: K) -> K:
        for edge in connection.edges:
            self.overlay(edge.node)
        return connection


def payload_of(info: Info) -> PayloadFigures | None:
    """The figures of the mutation field `info` resolves under; None outside a mutation."""
    raw = info._raw_info
    if raw.operation.operation is not OperationType.MUTATION:
        return None
    root = raw.path
    while root.prev is not None:
        root = root.prev
    return PayloadFigures(info, str(root.key))


def computed[C: CarriesFigures](info: Info, obj: C) -> C:
    """`obj`, with computed figures when it is part of a mutation's payload."""
    payload = payload_of(info)
    return payload.overlay(obj) if payload is not None else obj


def computed_all[C: CarriesFigures](info: Info, objs: list[C]) -> list[C]:
    """`objs`, with computed figures when they are part of a mutation's payload."""
    payload = payload_of(info)
    if payload is not None:
        for obj in objs:
            payload.overlay(obj)
    return objs


def computed_nodes[K: Connection](info: Info, connection: K) -> K:
    """`connection`, its nodes with computed figures when it is part of a mutation's payload."""
    payload = payload_of(info)
    return payload.overlay_nodes(connection) if payload is not None else connection
