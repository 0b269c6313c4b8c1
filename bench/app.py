"""The benchmark's ASGI factory: the service's app (`app.asgi.build_app`) plus the floor
endpoints, or a variant of it with one technique switched off, chosen by BENCH_VARIANT:

| variant        | what differs from production (`ours`)                                   |
|----------------|--------------------------------------------------------------------------|
| ours           | nothing: `app.asgi.build_app(settings)`                                  |
| plain          | stock Strawberry: `strawberry.asgi.GraphQL` (json.dumps), a schema with  |
|                | no extensions at all (no caches, no limits, no guard), stock execution  |
| strawberryview | the production schema behind Strawberry's own HTTP view                 |
|                | (`strawberry.asgi.GraphQL`) instead of the thin path (schema/http/)     |
| nocaches       | no parse cache (ParsedDocument) / DocumentValidationCache               |
| stdjson        | responses encoded with json.dumps instead of orjson                     |
| fieldext       | plus one per-field extension (a no-op `resolve` hook, the cost of it)   |
| unbatched      | DataLoaders that do not batch (max_batch_size=1): one find per key      |
| aggread        | figures aggregated on read (service.repositories.figures, per request)  |
|                | instead of read from the stored aggregates                              |
| projection     | reviews and users fetched with a projection of what the page renders   |

The execution (compiled, planned, stock) is the EXECUTION setting, not a variant.
BENCH_FIXES (comma-separated) patches a variant further: `rulesperrequest` (the limit rules
built per request, as before schema/limits.py made them once), `noprefetch` (Review.user awaits
the loader per review), `loaderprefetch` (the page's reviewers fetched through the users
DataLoader's load_many instead of one repository call), `strawberryvalcache` (Strawberry's
ValidationCache, keyed by the document's hash, instead of schema.validation_cache),
`tzcursor` (cursors encoded with the time-zone-aware `datetime.timestamp()`), `apqredis`
(APQ hashes looked up in Redis on every request, no in-process map), `gcfreeze`.
BENCH_SKIP_INDEXES=1 opens the services without creating indexes (the grow database, see
bench.data).

uvloop+httptools versus asyncio+h11 is a uvicorn flag (`bench.serve --loop --http`); APQ and
the response cache are request bodies and a setting (RESPONSE_CACHE). Every variant also
counts the responses it completed per path (GET /bench/stats), so that CPU time can be
divided by requests the process really served.

    uvicorn bench.app:build --factory   (bench.serve runs it the way `books serve` does)
"""

import json
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
import strawberry
from bson import ObjectId
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension, ValidationCache

import app.asgi
from bench import floor
from schema.context import Context, Viewer
from schema.definition import BookSchema, build_schema
from schema.documents import ParsedDocument
from schema.http.endpoint import Body, GraphQLEndpoint
from schema.loaders import Loaders
from schema.mutations.root import Mutation
from schema.query import Query
from schema.subscription import Subscription
from schema.types.author import Author
from schema.types.book import Book
from schema.types.comment import Comment
from schema.types.review import Review
from schema.types.user import User
from schema.validation_cache import DocumentValidationCache
from service.mongo import Document, Store
from service.repositories.common import docs_by_ids
from service.repositories.figures import with_figures
from service.settings import Settings, get_settings

TYPES = [Book, Author, User, Review, Comment]
VARIANTS = (
    "ours",
    "plain",
    "strawberryview",
    "nocaches",
    "stdjson",
    "fieldext",
    "unbatched",
    "aggread",
    "projection",
)


# --- counting completed responses ------------------------------------------------------------


class Counted:
    """Count responses per path; answer GET /bench/stats with the counts and the pid."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.responses: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path == "/bench/stats":
            services = getattr(self.app.state, "services", None)
            body = {
                "pid": os.getpid(),
                "variant": os.environ.get("BENCH_VARIANT", "ours"),
                "responses": dict(self.responses),
                "commands": dict(services.commands.counts) if services else {},
            }
            await Response(orjson.dumps(body), media_type="application/json")(scope, receive, send)
            return
        await self.app(scope, receive, send)
        self.responses[path] += 1


# --- variants --------------------------------------------------------------------------------


def _extension_type(factory: Any) -> type:
    if isinstance(factory, type):
        return factory
    return type(factory())


def schema_variant(
    settings: Settings, drop: tuple[type, ...] = (), add: Sequence[Any] = ()
) -> BookSchema:
    """The production schema with some extensions dropped and others added."""
    base = build_schema(settings)
    kept = [f for f in base.extensions if not issubclass(_extension_type(f), drop)]
    schema = BookSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=TYPES,
        extensions=[*kept, *add],
        execution_context_class=base.execution_context_class,
        config=base.config,
    )
    schema.documents = base.documents
    return schema


class NoopFieldHook(SchemaExtension):
    """A per-field hook that does nothing: what any `resolve` extension costs at least."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        return _next(root, info, *args, **kwargs)


def _unbatched_loader(collection: Any) -> DataLoader[ObjectId, Document | None]:
    async def load(ids: list[ObjectId]) -> Sequence[Document | None]:
        found = await docs_by_ids(collection, ids)
        return [found.get(i) for i in ids]

    return DataLoader(load, max_batch_size=1)


class UnbatchedLoaders(Loaders):
    def __init__(self, store: Store, viewer_id: ObjectId | None) -> None:
        super().__init__(store, viewer_id)
        self.book = _unbatched_loader(store.books)
        self.author = _unbatched_loader(store.authors)
        self.user = _unbatched_loader(store.users)


def _aggregating_loader(
    collection: Any, compute: Any, store: Store
) -> DataLoader[ObjectId, Document | None]:
    async def load(ids: list[ObjectId]) -> Sequence[Document | None]:
        found = await docs_by_ids(collection, ids)
        figures = await compute(store, list(found)) if found else {}
        return [with_figures(found[i], figures[i]) if i in found else None for i in ids]

    return DataLoader(load)


class AggregatingLoaders(Loaders):
    """Reads that aggregate: every figure the page shows is recomputed from the sources."""

    def __init__(self, store: Store, viewer_id: ObjectId | None) -> None:
        from service.repositories.figures import author_figures, book_figures, user_figures

        super().__init__(store, viewer_id)
        self.book = _aggregating_loader(store.books, book_figures, store)
        self.author = _aggregating_loader(store.authors, author_figures, store)
        self.user = _aggregating_loader(store.users, user_figures, store)


class ProjectingLoaders(Loaders):
    def __init__(self, store: Store, viewer_id: ObjectId | None) -> None:
        super().__init__(store, viewer_id)

        async def load_users(ids: list[ObjectId]) -> Sequence[Document | None]:
            found = await docs_by_ids(store.users, ids, floor.USER_PROJECTION)
            return [found.get(i) for i in ids]

        self.user = DataLoader(load_users)


def _project_book_reviews() -> None:
    """Make entries.book_reviews ask for `floor.REVIEW_PROJECTION` (this process only)."""
    from service.repositories import entries

    original = entries.fetch_page

    def fetch_page(
        collection: Any,
        query: Any,
        ordering: Any,
        first: int,
        after: str | None,
        projection: Any = None,
    ) -> Any:
        if projection is None and collection.name == "reviews" and "has_text" in query:
            projection = floor.REVIEW_PROJECTION
        return original(collection, query, ordering, first, after, projection)

    entries.fetch_page = fetch_page


class StdJsonEndpoint(GraphQLEndpoint):
    """Responses encoded with json.dumps, as Strawberry's view does by default."""

    def _respond(
        self, body: Body | list[Body], context: Context, media: str, request_error: bool
    ) -> Response:
        response = super()._respond(body, context, media, request_error)
        response.body = json.dumps(body).encode()
        response.headers["content-length"] = str(len(response.body))
        return response


class StrawberryView(GraphQL[Context, None]):
    """Strawberry's own HTTP view (json.dumps, its request parsing); the context is ours."""

    loaders_class: type[Loaders] = Loaders

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        services = request.app.state.services
        viewer = Viewer.from_authorization(
            request.headers.get("authorization"), services.jwt_secret
        )
        return Context(
            services=services,
            viewer=viewer,
            loaders=self.loaders_class(services.store, viewer.id),
            request=request,
        )


def _with_loaders(loaders: type[Loaders]) -> type[GraphQLEndpoint]:
    return type(f"{loaders.__name__}Endpoint", (GraphQLEndpoint,), {"loaders_class": loaders})


def graphql_app(variant: str, settings: Settings) -> ASGIApp | None:
    """The variant's /graphql endpoint (None for production's own)."""
    if variant == "ours":
        return None
    if variant == "plain":
        schema = strawberry.Schema(
            query=Query, mutation=Mutation, subscription=Subscription, types=TYPES
        )
        return StrawberryView(schema)
    if variant == "strawberryview":
        return StrawberryView(build_schema(settings))
    if variant == "nocaches":
        return GraphQLEndpoint(
            schema_variant(settings, drop=(ParsedDocument, DocumentValidationCache))
        )
    if variant == "stdjson":
        return StdJsonEndpoint(build_schema(settings))
    if variant == "fieldext":
        return GraphQLEndpoint(schema_variant(settings, add=[NoopFieldHook]))
    if variant == "unbatched":
        return _with_loaders(UnbatchedLoaders)(build_schema(settings))
    if variant == "aggread":
        return _with_loaders(AggregatingLoaders)(build_schema(settings))
    if variant == "projection":
        _project_book_reviews()
        return _with_loaders(ProjectingLoaders)(build_schema(settings))
    raise SystemExit(f"BENCH_VARIANT must be one of {', '.join(VARIANTS)}; got {variant!r}")


def _rules_per_request() -> None:
    """Technique switched off (the state before schema/limits.py made its rules once): the
    depth and alias rules built per request, as strawberry's QueryDepthLimiter and
    MaxAliasesLimiter do when given as per-request factories. Every request then brings new
    rule classes, so the validation cache (keyed by the rules) never hits."""
    from strawberry.extensions import AddValidationRules, MaxAliasesLimiter

    import schema.limits

    def extensions(self: schema.limits.Limits) -> list[Any]:
        cost_rule = schema.limits.cost_limit_rule(self.max_cost)
        return [
            lambda: AddValidationRules([schema.limits.depth_limit_rule(self.max_depth)]),
            lambda: MaxAliasesLimiter(max_alias_count=self.max_aliases),
            lambda: AddValidationRules([cost_rule]),
        ]

    schema.limits.Limits.extensions = extensions  # type: ignore[method-assign]


def _skip_index_creation() -> None:
    """BENCH_SKIP_INDEXES=1: open services without create_indexes (see bench.data, grow)."""
    import functools

    from service.services import open_services

    app.asgi.open_services = functools.partial(open_services, create_indexes=False)  # type: ignore[assignment]


# Proposed changes, switched on per process with BENCH_FIXES=a,b: applied before the app is
# built (FIXES) or to the GraphQL endpoint once built (VIEW_FIXES).
def _gc_freeze() -> None:
    """Move everything built at start-up (schema, modules) out of the collector's reach:
    full collections then only traverse what requests allocate (gc.freeze)."""
    import gc

    gc.collect()
    gc.freeze()


def _no_prefetch() -> None:
    """Technique switched off: Book.reviews no longer fetches the page's reviewers itself;
    every Review.user awaits the users DataLoader (still one batched find)."""
    import schema.types.book

    schema.types.book.selects_review_user = lambda info: False


def _loader_prefetch() -> None:
    """Technique switched off: Book.reviews fetches the page's reviewers through the users
    DataLoader (load_many: a future and a loader task per key; the same one find)."""
    from contextvars import ContextVar

    import schema.types.book

    current: ContextVar[Loaders] = ContextVar("loaders")
    original = Loaders.__init__

    def remembering(self: Loaders, store: Store, viewer_id: ObjectId | None) -> None:
        original(self, store, viewer_id)
        current.set(self)

    class ThroughLoader:
        @staticmethod
        async def by_ids(store: Store, ids: list[ObjectId]) -> dict[ObjectId, Document]:
            docs = await current.get().user.load_many(ids)
            return {d["_id"]: d for d in docs if d is not None}

    Loaders.__init__ = remembering  # type: ignore[method-assign]
    schema.types.book.users = ThroughLoader  # type: ignore[assignment]


def _tz_cursor() -> None:
    """Technique switched off: cursors encode datetimes with the time-zone-aware
    `datetime.timestamp()` (a Python `utcoffset` call per cursor for bson's utc)."""
    from datetime import datetime

    import service.ids

    def encode(value: Any) -> Any:
        if isinstance(value, ObjectId):
            return {"o": str(value)}
        if isinstance(value, datetime):
            return {"d": value.timestamp()}
        return value

    service.ids._encode_key_value = encode


def _apq_redis() -> None:
    """Technique switched off: every hash-only APQ request reads its document from Redis (no
    in-process digest -> document map)."""
    from service.persisted_queries import PersistedQueries

    original = PersistedQueries._stored

    async def stored(self: PersistedQueries, digest: str) -> str | None:
        self._known.clear()
        return await original(self, digest)

    PersistedQueries._stored = stored  # type: ignore[method-assign]


FIXES = {
    "rulesperrequest": _rules_per_request,
    "gcfreeze": lambda: None,
    "noprefetch": _no_prefetch,
    "loaderprefetch": _loader_prefetch,
    "tzcursor": _tz_cursor,
    "apqredis": _apq_redis,
}


def _strawberry_validation_cache(graphql: Any) -> None:
    """Strawberry's ValidationCache (an lru_cache that hashes the document on every request)."""
    graphql.schema.extensions = tuple(
        (lambda: ValidationCache(maxsize=1024))
        if issubclass(_extension_type(f), DocumentValidationCache)
        else f
        for f in graphql.schema.extensions
    )


VIEW_FIXES = {"strawberryvalcache": _strawberry_validation_cache}


def build() -> Counted:
    settings = get_settings()
    variant = os.environ.get("BENCH_VARIANT", "ours")
    if os.environ.get("BENCH_SKIP_INDEXES") == "1":
        _skip_index_creation()
    fixes = [f for f in os.environ.get("BENCH_FIXES", "").split(",") if f]
    unknown = set(fixes) - set(FIXES) - set(VIEW_FIXES)
    if unknown:
        raise SystemExit(f"unknown BENCH_FIXES {sorted(unknown)}")
    for fix in fixes:
        if fix in FIXES:
            FIXES[fix]()
    asgi = app.asgi.build_app(settings)
    routes = asgi.router.routes
    [at] = [i for i, r in enumerate(routes) if isinstance(r, Route) and r.path == "/graphql"]
    graphql = graphql_app(variant, settings)
    if graphql is not None:
        routes[at] = Route("/graphql", graphql, methods=["GET", "POST"])
    for fix in fixes:
        if fix in VIEW_FIXES:
            VIEW_FIXES[fix](routes[at].endpoint)  # type: ignore[attr-defined]
    routes[0:0] = floor.ROUTES
    if "gcfreeze" in fixes:
        _gc_freeze()
    return Counted(asgi)
