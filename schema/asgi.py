"""The ASGI application of the service: uvicorn's factory entry point."""

from starlette.applications import Starlette

from schema.definition import build_schema
from schema.http import GraphQLApp
from service.app import create_app
from service.settings import Settings, get_settings


def build_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    return create_app(settings, GraphQLApp(build_schema()))


def serve_command(args: object, settings: Settings) -> int:
    import uvicorn

    uvicorn.run(
        "schema.asgi:build_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.api_processes,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
    )
    return 0
