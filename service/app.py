"""The Starlette application: lifespan opens the process's services; the GraphQL endpoint is
passed in, so this module needs nothing from schema/."""

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.health import healthz, readyz
from service.metrics import metrics_endpoint
from service.persisted_queries import PersistedQueries, register_manifest
from service.services import open_services
from service.settings import Settings

log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse request bodies over `max_bytes` (413) before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body larger than {self.max_bytes} bytes"
        body = {"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]}
        await JSONResponse(body, status_code=413)(scope, receive, send)


# What a page on an allowed origin may send and read (bearer tokens: no credentials mode).
CORS_ALLOWED_HEADERS = ["authorization", "content-type", "accept", "x-request-id"]
CORS_EXPOSED_HEADERS = ["x-request-id", "retry-after"]
CORS_MAX_AGE_SECONDS = 600


async def register_manifests(persisted: PersistedQueries, manifests: Sequence[Path]) -> None:
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


def create_app(
    settings: Settings, routes: list[BaseRoute], manifests: Sequence[Path] = ()
) -> Starlette:
    """An app serving `routes` (the GraphQL endpoints) with health, metrics, the body limit
    and CORS for `settings.cors_origins`; the persisted-documents `manifests` are registered
    as it starts."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_services(settings) as services:
            await register_manifests(services.persisted, manifests)
            app.state.services = services
            app.state.metrics = services.metrics
            log.info("serving database %s", settings.mongodb_db)
            yield

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
    return Starlette(
        routes=[
            *routes,
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
        ],
        lifespan=lifespan,
        middleware=middleware,
    )
