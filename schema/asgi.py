"""The ASGI application of the service: uvicorn's factory entry point."""

import argparse
import signal

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from schema.definition import build_schema
from schema.http import GRAPHIQL_DIR, GraphQLApp
from service.app import create_app
from service.settings import Settings, get_settings


def build_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    graphql = GraphQLApp(build_schema(settings), graphiql=not settings.production)
    return create_app(settings, graphql, extra_routes=_graphiql_assets(settings))


def _graphiql_assets(settings: Settings) -> list[BaseRoute]:
    """GraphiQL's script, stylesheet and fonts, which its page at /graphql loads; none in
    production mode, where the page is not served either."""
    if settings.production:
        return []
    return [Mount("/graphiql", app=StaticFiles(directory=GRAPHIQL_DIR), name="graphiql")]


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
