"""The benchmark's ASGI factory: the service's app (`app.asgi.build_app`) plus the floor
endpoints, or a variant of it with one technique switched off, chosen by BENCH_VARIANT.

Every variant goes through a configuration point production itself uses (with its default)
or is composed here from public building blocks; nothing here assigns over a production
symbol (tests/test_suite_layout.py checks bench/ for that, and that a bench subclass of a
production class overrides only what its base defines, so a rename fails the test instead of
silently turning a variant into production):

| variant            | what differs from production (`ours`), and through what            |
|--------------------|--------------------------------------------------------------------|
| ours               | nothing: `app.asgi.build_app(settings)`                            |
| plain              | stock Strawberry: `strawberry.asgi.GraphQL` (json.dumps) around a  |
|                    | `strawberry.Schema` of the production types with no extensions (no |
|                    | caches, no limits, no guard), stock execution                      |
| strawberryview     | `strawberry.asgi.GraphQL` around `build_schema(settings)` instead  |
|                    | of the thin path (schema/http/)                                    |
| nocaches           | `build_schema(settings, extensions=...)` without ParsedDocument    |
|                    | and DocumentValidationCache                                        |
| rulesperrequest    | `build_schema(settings, extensions=...)` with the limit rules made |
|                    | per request (as strawberry's QueryDepthLimiter and                 |
|                    | MaxAliasesLimiter do; the validation cache then never hits)        |
| strawberryvalcache | `build_schema(settings, extensions=...)` with Strawberry's         |
|                    | ValidationCache instead of schema.validation_cache's               |
| fieldext           | `build_schema(settings, extensions=...)` plus a no-op per-field    |
|                    | `resolve` hook (what any such extension costs at least)            |
| loaderprefetch     | Loaders (`GraphQLEndpoint.loaders_class`) whose `users_by_ids`     |
|                    | goes through the users DataLoader (load_many) instead of one find  |
| unbatched          | Loaders whose by-id DataLoaders do not batch (max_batch_size=1),   |
|                    | the page's reviewers through them (one find per reviewer)          |
| aggread            | Loaders computing figures on read (service.repositories.figures,   |
|                    | per request) instead of reading the stored aggregates              |

The execution (compiled, planned, stock) is the EXECUTION setting and the response cache
RESPONSE_CACHE, not variants; uvloop+httptools versus asyncio+h11 is a uvicorn flag
(`bench.serve --loop --http`); APQ is a request body. BENCH_SKIP_INDEXES=1 builds the app with
`build_app(settings, create_indexes=False)` (the grow database, see bench.data). BENCH_FIXES
(comma-separated) holds proposed changes measured on a variant: `gcfreeze` (gc.freeze after
start-up).

Dropped when the bench stopped patching production (their figures stay in bench/RESULTS.md's
earlier runs): `stdjson` (json.dumps in our endpoint), `noprefetch` (Review.user awaiting the
loader per review), `projection` (reviews and users fetched with projections), `tzcursor`
(cursors from the aware `datetime.timestamp()`) and `apqredis` (APQ without the in-process
map): each needed a hook in production code that production has no use for.

Every variant also counts the responses it completed per path (GET /bench/stats), so that CPU
time can be divided by requests the process really served.

    uvicorn bench.app:build --factory   (bench.serve runs it the way `books serve` does)
"""

import os
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cached_property
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
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    SchemaExtension,
    ValidationCache,
)

from app.asgi import build_app
from bench import floor
from schema.context import Context, Viewer
from schema.definition import ExtensionsFor, build_schema, operation_extensions
from schema.documents import DocumentCache, ParsedDocument
from schema.http.endpoint import GraphQLEndpoint
from schema.limits import cost_limit_rule, depth_limit_rule
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
from service.mongo import Document
from service.repositories.common import docs_by_ids
from service.repositories.figures import (
    author_figures,
    book_figures,
    user_figures,
    with_figures,
)
from service.settings import Settings, get_settings

TYPES = [Book, Author, User, Review, Comment]


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


# --- schema variants: production's extensions, edited ----------------------------------------


def _extension_type(factory: Any) -> type:
    if isinstance(factory, type):
        return factory
    return type(factory())


def replacing(
    kinds: tuple[type, ...], by: Callable[[Settings], list[Any]] = lambda _: []
) -> ExtensionsFor:
    """Production's extensions with those of exactly the types `kinds` replaced by
    `by(settings)` (where the first of them stood). A kind production no longer has stops
    the variant: it would otherwise measure production under another name."""

    def extensions(settings: Settings, documents: DocumentCache) -> list[Any]:
        production = operation_extensions(settings, documents)
        types = [_extension_type(f) for f in production]
        missing = [k.__name__ for k in kinds if k not in types]
        if missing:
            raise SystemExit(f"the schema has no {', '.join(missing)} extension to replace")
        at = min(types.index(k) for k in kinds)
        kept = [f for f, t in zip(production, types, strict=True) if t not in kinds]
        before = sum(1 for t in types[:at] if t not in kinds)
        return [*kept[:before], *by(settings), *kept[before:]]

    return extensions


def rules_per_request(settings: Settings) -> list[Any]:
    """The limit rules as before schema/limits.py made them once: depth and alias rules built
    per request, as strawberry's QueryDepthLimiter and MaxAliasesLimiter do when given as
    per-request factories. Every request brings new rule classes, so the validation cache
    (keyed by the rules) never hits."""
    cost_rule = cost_limit_rule(settings.max_query_cost)
    return [
        lambda: AddValidationRules([depth_limit_rule(settings.max_query_depth)]),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        lambda: AddValidationRules([cost_rule]),
    ]


class NoopFieldHook(SchemaExtension):
    """A per-field hook that does nothing: what any `resolve` extension costs at least."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        return _next(root, info, *args, **kwargs)


def with_field_hook(settings: Settings, documents: DocumentCache) -> list[Any]:
    return [*operation_extensions(settings, documents), NoopFieldHook]


SCHEMA_VARIANTS: dict[str, ExtensionsFor] = {
    "nocaches": replacing((ParsedDocument, DocumentValidationCache)),
    "rulesperrequest": replacing((AddValidationRules,), rules_per_request),
    "strawberryvalcache": replacing(
        (DocumentValidationCache,), lambda _: [lambda: ValidationCache(maxsize=1024)]
    ),
    "fieldext": with_field_hook,
}


# --- loader variants: Loaders subclasses behind GraphQLEndpoint.loaders_class ----------------


class ThroughUserLoader(Loaders):
    """The page's reviewers through the users DataLoader (load_many: a future and a loader
    task per key; the same one find), so that a variant's user loader serves them too."""

    async def users_by_ids(self, ids: list[ObjectId]) -> dict[ObjectId, Document]:
        docs = await self.user.load_many(ids)
        return {d["_id"]: d for d in docs if d is not None}


def _unbatched_loader(collection: Any) -> DataLoader[ObjectId, Document | None]:
    async def load(ids: list[ObjectId]) -> Sequence[Document | None]:
        found = await docs_by_ids(collection, ids)
        return [found.get(i) for i in ids]

    return DataLoader(load, max_batch_size=1)


class UnbatchedLoaders(ThroughUserLoader):
    """By-id DataLoaders that do not batch: one find per key."""

    @cached_property
    def book(self) -> DataLoader[ObjectId, Document | None]:
        return _unbatched_loader(self.store.books)

    @cached_property
    def author(self) -> DataLoader[ObjectId, Document | None]:
        return _unbatched_loader(self.store.authors)

    @cached_property
    def user(self) -> DataLoader[ObjectId, Document | None]:
        return _unbatched_loader(self.store.users)


def _aggregating_loader(
    loaders: Loaders, collection: Any, compute: Any
) -> DataLoader[ObjectId, Document | None]:
    async def load(ids: list[ObjectId]) -> Sequence[Document | None]:
        found = await docs_by_ids(collection, ids)
        figures = await compute(loaders.store, list(found)) if found else {}
        return [with_figures(found[i], figures[i]) if i in found else None for i in ids]

    return DataLoader(load)


class AggregatingLoaders(ThroughUserLoader):
    """Reads that aggregate: every figure the page shows is recomputed from the sources."""

    @cached_property
    def book(self) -> DataLoader[ObjectId, Document | None]:
        return _aggregating_loader(self, self.store.books, book_figures)

    @cached_property
    def author(self) -> DataLoader[ObjectId, Document | None]:
        return _aggregating_loader(self, self.store.authors, author_figures)

    @cached_property
    def user(self) -> DataLoader[ObjectId, Document | None]:
        return _aggregating_loader(self, self.store.users, user_figures)


class ThroughUserLoaderEndpoint(GraphQLEndpoint):
    loaders_class = ThroughUserLoader


class UnbatchedEndpoint(GraphQLEndpoint):
    loaders_class = UnbatchedLoaders


class AggregatingEndpoint(GraphQLEndpoint):
    loaders_class = AggregatingLoaders


LOADER_VARIANTS: dict[str, type[GraphQLEndpoint]] = {
    "loaderprefetch": ThroughUserLoaderEndpoint,
    "unbatched": UnbatchedEndpoint,
    "aggread": AggregatingEndpoint,
}


# --- Strawberry's own view -------------------------------------------------------------------


class StrawberryView(GraphQL[Context, None]):
    """Strawberry's own HTTP view (json.dumps, its request parsing); the context is ours."""

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        services = request.app.state.services
        viewer = Viewer.from_authorization(
            request.headers.get("authorization"), services.jwt_secret
        )
        return Context(
            services=services,
            viewer=viewer,
            loaders=Loaders(services.store, viewer.id),
            request=request,
        )


VARIANTS = ("ours", "plain", "strawberryview", *SCHEMA_VARIANTS, *LOADER_VARIANTS)


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
    if variant in SCHEMA_VARIANTS:
        return GraphQLEndpoint(build_schema(settings, extensions=SCHEMA_VARIANTS[variant]))
    if variant in LOADER_VARIANTS:
        return LOADER_VARIANTS[variant](build_schema(settings))
    raise SystemExit(f"BENCH_VARIANT must be one of {', '.join(VARIANTS)}; got {variant!r}")


# --- proposed changes (BENCH_FIXES) ----------------------------------------------------------


def _gc_freeze() -> None:
    """Move everything built at start-up (schema, modules) out of the collector's reach:
    full collections then only traverse what requests allocate (gc.freeze)."""
    import gc

    gc.collect()
    gc.freeze()


FIXES = ("gcfreeze",)


def build() -> Counted:
    settings = get_settings()
    variant = os.environ.get("BENCH_VARIANT", "ours")
    fixes = [f for f in os.environ.get("BENCH_FIXES", "").split(",") if f]
    unknown = set(fixes) - set(FIXES)
    if unknown:
        raise SystemExit(f"unknown BENCH_FIXES {sorted(unknown)}")
    asgi = build_app(settings, create_indexes=os.environ.get("BENCH_SKIP_INDEXES") != "1")
    routes = asgi.router.routes
    [at] = [i for i, r in enumerate(routes) if isinstance(r, Route) and r.path == "/graphql"]
    graphql = graphql_app(variant, settings)
    if graphql is not None:
        routes[at] = Route("/graphql", graphql, methods=["GET", "POST"])
    routes[0:0] = floor.ROUTES
    if "gcfreeze" in fixes:
        _gc_freeze()
    return Counted(asgi)
