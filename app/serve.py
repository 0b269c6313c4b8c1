"""`books serve`: the API under uvicorn, as production runs it."""

import signal

import uvicorn

from service.settings import Settings


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


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
        http="httptools",
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's loggers go through ours (JSON lines, request ids)
        timeout_graceful_shutdown=20,
    )
    return 0
