"""Serve `bench.app:build` the way `books serve` (app.asgi.serve_command) serves the API:
one uvicorn process (no supervisor), the service's logging; only the event loop and the HTTP
parser can be changed, to measure uvloop + httptools against asyncio + h11.

    python -m bench.serve [--loop uvloop|asyncio] [--http httptools|h11]

Settings come from the environment (HOST, PORT, MONGODB_URL, ...), the variant from
BENCH_VARIANT (see bench.app).
"""

import argparse
import sys

import uvicorn

from service import logs
from service.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("--loop", default="uvloop", choices=["uvloop", "asyncio"])
    parser.add_argument("--http", default="httptools", choices=["httptools", "h11"])
    args = parser.parse_args(argv)
    settings = get_settings()
    logs.configure(settings.log_level, settings.json_logs)
    uvicorn.run(
        "bench.app:build",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=1,
        loop=args.loop,
        http=args.http,
        log_level=settings.log_level.lower(),
        log_config=None,
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
