"""The ASGI application of the service: uvicorn's factory entry point."""

import argparse
import signal
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from schema.definition import build_schema
from schema.http.endpoint import GraphQLEndpoint
from schema.websocket import GraphQLWebSocket
from service.app import create_app
from service.settings import Settings, get_settings

# GraphiQL built from pinned npm packages by web/graphiql (`make graphiql`) and committed, so
# that the IDE loads nothing from a CDN; served outside production mode only.
GRAPHIQL_DIR = Path(__file__).resolve().parent.parent / "app" / "static" / "graphiql"

# The book page SPA built from web/ (`make web`) and committed: its page at /, its scripts and
# styles under /assets, and the manifest of its operations (it sends them by hash), registered
# as the app starts.
WEB_DIR = GRAPHIQL_DIR.parent / "web"
WEB_MANIFEST = WEB_DIR / "persisted-documents.json"
# The page loads only its own files and talks only to its own origin (HTTP and WebSocket).
WEB_PAGE_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data: https:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "cache-control": "no-cache",
}


async def web_page(request: Request) -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", headers=WEB_PAGE_HEADERS)


def web_routes() -> list[BaseRoute]:
    return [
        Route("/", web_page, methods=["GET", "HEAD"]),
        Mount("/assets", app=StaticFiles(directory=WEB_DIR / "assets"), name="web-assets"),
    ]


def build_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    schema = build_schema(settings)
    graphiql = None if settings.production else FileResponse(GRAPHIQL_DIR / "index.html")
    routes: list[BaseRoute] = [
        Route("/graphql", GraphQLEndpoint(schema, graphiql), methods=["GET", "POST"]),
        WebSocketRoute("/graphql", GraphQLWebSocket(schema, settings.cors_origins)),
        *web_routes(),
    ]
    if not settings.production:
        # GraphiQL's script, stylesheet and fonts, which its page at /graphql loads.
        routes.append(Mount("/graphiql", app=StaticFiles(directory=GRAPHIQL_DIR), name="graphiql"))
    return create_app(settings, routes, manifests=[WEB_MANIFEST])


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def serve_command(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to whatever handler
    # was installed before it: ours turns a finished graceful shutdown into exit status 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "schema.asgi:build_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.api_processes,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through ours (JSON lines, request ids)
        timeout_graceful_shutdown=20,
    )
    return 0
