"""The operations endpoints: /healthz says the process runs; /readyz that MongoDB and Redis
answer within a bound, so a load balancer stops sending traffic when they do not, and whether
the workers keep up with the events; /metrics is the Prometheus exposition, with the event
pipeline read at scrape time.

Workers falling behind (paused, dead, too few) make /readyz say `degraded` with HTTP 200, not
503: this process still serves every request, and taking every API instance out of the load
balancer because of the workers would turn stale figures into an outage. The `pipeline`
section says why; alert on it, or on the gauges events_oldest_unapplied_seconds and
workers_alive.
"""

import asyncio

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.metrics import Metrics
from service.pipeline import Backlog
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


async def _backlog(services: Services) -> Backlog | None:
    try:
        return await asyncio.wait_for(services.pipeline.backlog(), READY_TIMEOUT_SECONDS)
    except Exception:
        return None


def _pipeline(backlog: Backlog | None, max_age_seconds: float) -> dict[str, object]:
    if backlog is None:
        return {"status": "unknown"}
    problems = backlog.problems(max_age_seconds)
    return {
        "status": "lagging" if problems else "ok",
        **backlog.as_dict(),
        "max_event_age_seconds": max_age_seconds,
        **({"problems": problems} if problems else {}),
    }


async def readyz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    mongo, redis, backlog = await asyncio.gather(
        _answers(services.ping_mongo()), _answers(services.redis.ping()), _backlog(services)
    )
    ready = mongo and redis
    pipeline = _pipeline(backlog, services.settings.ready_max_event_age_seconds)
    status = "unavailable" if not ready else "ready" if pipeline["status"] == "ok" else "degraded"
    body = {
        "status": status,
        "mongodb": "ok" if mongo else "unreachable",
        "redis": "ok" if redis else "unreachable",
        "pipeline": pipeline,
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
