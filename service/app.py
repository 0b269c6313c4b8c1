"""The Starlette application: lifespan opens the process's services; routes are mounted by
the caller, so this module needs nothing from schema/."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp

from service.services import open_services
from service.settings import Settings

log = logging.getLogger(__name__)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings, graphql_app: ASGIApp, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """An app serving `graphql_app` at /graphql (HTTP and WebSocket)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            app.state.services = services
            log.info("serving database %s", settings.mongodb_db)
            yield

    routes: list[BaseRoute] = [
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_app),
        Route("/healthz", healthz),
        *(extra_routes or []),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
