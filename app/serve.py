"""`books serve`: the API under uvicorn, as production runs it."""

import signal
from typing import Any

import uvicorn

from service.settings import Settings

# uvicorn's httptools protocol with a header-size limit (431) and a deadline for receiving a
# whole request (408): app.http_protocol.
HTTP_PROTOCOL = "app.http_protocol:BoundedHttpToolsProtocol"


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def client_address_options(settings: Settings) -> dict[str, Any]:
    """Whose X-Forwarded-* headers uvicorn believes: only TRUSTED_PROXIES'. uvicorn's own
    default trusts 127.0.0.1, which lets any local client choose its address (and so its rate
    limit budget); with no proxy named, the connection's peer is the client."""
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.trusted_proxies)}


def connection_options(settings: Settings) -> dict[str, Any]:
    """What uvicorn bounds per process: connections, idle keep-alive, WebSocket messages (the
    same limit as HTTP bodies)."""
    return {
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "ws_max_size": settings.max_body_bytes,
    }


def serve(settings: Settings) -> int:
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to whatever handler
    # was installed before it: ours turns a finished graceful shutdown into exit status 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "app.asgi:build_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.api_processes,
        loop="uvloop",
        http=HTTP_PROTOCOL,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through ours (JSON lines, request ids)
        timeout_graceful_shutdown=20,
        **client_address_options(settings),
        **connection_options(settings),
    )
    return 0
