"""The operations endpoints: /healthz says the process runs; /readyz that MongoDB and Redis
answer within a bound, so a load balancer stops sending traffic when they do not; /metrics is
the Prometheus exposition, with the event pipeline read at scrape time."""

import asyncio

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.metrics import Metrics
from service.publisher import outbox_size
from service.services import Services

READY_TIMEOUT_SECONDS = 1.0


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _answers(check: object) -> bool:
    try:
        await asyncio.wait_for(check, READY_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except Exception:
        return False
    return True


async def readyz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    mongo, redis = await asyncio.gather(
        _answers(services.ping_mongo()), _answers(services.redis.ping())
    )
    ready = mongo and redis
    body = {
        "status": "ready" if ready else "unavailable",
        "mongodb": "ok" if mongo else "unreachable",
        "redis": "ok" if redis else "unreachable",
    }
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    services: Services = request.app.state.services
    registry: Metrics = services.metrics
    for command, count in services.commands.counts.items():
        registry.mongo_commands.labels(command).set(count)
    try:
        status = await services.pipeline.status(await outbox_size(services.store))
    except Exception:  # metrics stay available when Redis (or MongoDB) is not
        status = None
    registry.set_pipeline(status, services.pipeline.names.group)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
