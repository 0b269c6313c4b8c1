"""Liveness and readiness: /healthz says the process runs; /readyz that MongoDB and Redis
answer within a bound, so a load balancer stops sending traffic when they do not."""

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse

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
        _answers(services.mongo.admin.command("ping")), _answers(services.redis.ping())
    )
    ready = mongo and redis
    body = {
        "status": "ready" if ready else "unavailable",
        "mongodb": "ok" if mongo else "unreachable",
        "redis": "ok" if redis else "unreachable",
    }
    return JSONResponse(body, status_code=200 if ready else 503)
