"""The ASGI application: the GraphQL endpoints (HTTP and WebSocket), the book page SPA and
GraphiQL's assets, the operations endpoints, CORS and the body limit, around the process's
services (the SPA's trusted documents are registered as it starts).

    uvicorn app.asgi:build_app --factory     (what `books serve` runs)
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from app.body_limit import BodyLimit
from app.ops import healthz, metrics, readyz
from schema.definition import build_schema
from schema.http.endpoint import GraphQLEndpoint
from schema.websocket import GraphQLWebSocket
from service.persisted_queries import PersistedQueries, register_manifest
from service.services import open_services
from service.settings import Settings, get_settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
# GraphiQL built from pinned npm packages by web/graphiql (`make graphiql`) and committed, so
# that the IDE loads nothing from a CDN; served outside production mode only.
GRAPHIQL_DIR = STATIC / "graphiql"
# The book page SPA built from web/ (`make web`) and committed: its page at /, its scripts and
# styles under /assets, and the manifest of its operations (it sends them by hash), registered
# as the app starts.
WEB_DIR = STATIC / "web"
WEB_MANIFEST = WEB_DIR / "persisted-documents.json"
# The page loads only its own files and talks only to its own origin (HTTP and WebSocket).
WEB_PAGE_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data: https:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "cache-control": "no-cache",
}

# What a page on an allowed origin may send and read (bearer tokens: no credentials mode).
CORS_ALLOWED_HEADERS = ["authorization", "content-type", "accept", "x-request-id"]
CORS_EXPOSED_HEADERS = ["x-request-id", "retry-after"]
CORS_MAX_AGE_SECONDS = 600


async def web_page(request: Request) -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", headers=WEB_PAGE_HEADERS)


async def register_manifests(persisted: PersistedQueries, manifests: list[Path]) -> None:
    """The trusted documents of the clients this app serves (the SPA's operations), registered
    at start-up so that they run by hash, also with PERSISTED_QUERIES_ONLY. A bad manifest
    stops the start; Redis being down does not (this process serves them from memory)."""
    for path in manifests:
        try:
            count = await register_manifest(persisted, path)
        except FileNotFoundError:
            log.warning("no persisted-documents manifest at %s: its client will be refused", path)
        except (RedisError, OSError) as error:
            log.warning("manifest %s kept in this process only (Redis: %s)", path, error)
        else:
            log.info("registered %d trusted documents from %s", count, path)


def _routes(settings: Settings) -> list[BaseRoute]:
    schema = build_schema(settings)
    graphiql = None if settings.production else FileResponse(GRAPHIQL_DIR / "index.html")
    routes: list[BaseRoute] = [
        Route("/graphql", GraphQLEndpoint(schema, graphiql), methods=["GET", "POST"]),
        WebSocketRoute("/graphql", GraphQLWebSocket(schema, settings.cors_origins)),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/", web_page, methods=["GET", "HEAD"]),
        Mount("/assets", StaticFiles(directory=WEB_DIR / "assets"), name="web-assets"),
    ]
    if not settings.production:
        # GraphiQL's script, stylesheet and fonts, which its page at /graphql loads.
        routes.append(Mount("/graphiql", StaticFiles(directory=GRAPHIQL_DIR), name="graphiql"))
    return routes


def _middleware(settings: Settings) -> list[Middleware]:
    middleware = [Middleware(BodyLimit, max_bytes=settings.max_body_bytes)]
    if settings.cors_origins:  # none by default: same origin only, and no CORS headers at all
        cors = Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=CORS_ALLOWED_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=CORS_MAX_AGE_SECONDS,
        )
        middleware.insert(0, cors)
    return middleware


def build_app(settings: Settings | None = None, *, create_indexes: bool = True) -> Starlette:
    """`create_indexes=False`: start without creating MongoDB's indexes (for a database whose
    indexes are managed elsewhere, as `open_services` allows)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings, create_indexes=create_indexes) as services:
            await register_manifests(services.persisted, [WEB_MANIFEST])
            app.state.services = services
            log.info("serving database %s", settings.mongodb_db)
            yield

    return Starlette(routes=_routes(settings), middleware=_middleware(settings), lifespan=lifespan)
