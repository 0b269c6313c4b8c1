"""`make dev`: the embedded servers (unless URLs are set), the demo data once, the API and a
worker, in the foreground until Ctrl-C.

The `books` command line is passed in (`cli`), so this tooling names nothing above it. Every
child runs in its own session: a Ctrl-C reaches only this launcher, which stops things in
order. A worker that dies is restarted with a growing pause (the API keeps serving and its
events wait in the stream); the API or a server dying stops everything.
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.embedded import (
    EmbeddedServerError,
    Servers,
    embedded_servers,
    python_env,
    stop_processes,
)
from service.settings import Settings

# Vite's dev server (`npm run dev` in web/) and the API's own origin, unless CORS_ORIGINS says.
DEV_SERVER_ORIGINS = ("http://localhost:5173", "http://127.0.0.1:5173")
RESTART_PAUSES = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # seconds before each further restart
STEADY_SECONDS = 60.0  # a worker that ran this long starts over at the first pause


def jwt_secret(data_dir: Path) -> str:
    """The token secret kept in DATA/jwt-secret (0600), made once so logins survive restarts."""
    path = data_dir / "jwt-secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text().strip()
        if not secret:
            raise EmbeddedServerError(f"{path} is empty; delete it to get a new secret") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as file:
        file.write(secret + "\n")
    return secret


def dev_cors_origins(settings: Settings) -> str:
    if settings.cors_origins:
        return ",".join(settings.cors_origins)
    own = (f"http://{settings.host}:{settings.port}", f"http://localhost:{settings.port}")
    return ",".join(dict.fromkeys((*DEV_SERVER_ORIGINS, *own)))


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _start_child(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A child in its own session, so that Ctrl-C reaches only us and we stop it in order."""
    return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, start_new_session=True)


@dataclass
class Restarted:
    """A child started again after it died, with a pause that grows while it keeps dying."""

    args: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] = field(init=False)
    started: float = field(init=False)
    restarts: int = 0

    def __post_init__(self) -> None:
        self.start()

    def start(self) -> None:
        self.process = _start_child(self.args, self.env)
        self.started = time.monotonic()

    def pause(self) -> float:
        if time.monotonic() - self.started >= STEADY_SECONDS:
            self.restarts = 0
        pause = RESTART_PAUSES[min(self.restarts, len(RESTART_PAUSES) - 1)]
        self.restarts += 1
        return pause


def _banner(settings: Settings, servers: Servers) -> str:
    data_dir = settings.data_dir
    mongo_note = "external" if settings.mongodb_url else f"mongoeco, {data_dir / 'books.db'}"
    redis_note = "external" if settings.redis_url else f"AOF in {data_dir / 'redis'}"
    base = f"http://{settings.host}:{settings.port}"
    return "\n".join(
        [
            "",
            f"  Book page http://{settings.host}:{settings.port}/",
            f"  GraphQL   {base}/graphql (GraphiQL in a browser)",
            f"  MongoDB   {servers.mongodb_url}  ({mongo_note})",
            f"  Redis     {servers.redis_url}  ({redis_note})",
            "  Ctrl-C stops everything.",
            "",
        ]
    )


def _supervise(
    api: subprocess.Popen[bytes], worker: Restarted, servers: Servers
) -> tuple[str, int]:
    """Run until the API or a server exits (its name and code); restart the worker."""
    watched = {"api": api} | {s.name: s.process for s in servers.processes}
    restart_at: float | None = None
    while True:
        for name, process in watched.items():
            code = process.poll()
            if code is not None:
                return name, code
        if restart_at is None:
            code = worker.process.poll()
            if code is not None:
                pause = worker.pause()
                print(
                    f"dev: worker exited (code {code}); restarting it in {pause:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
                restart_at = time.monotonic() + pause
        elif time.monotonic() >= restart_at:
            worker.start()
            restart_at = None
            print(f"dev: worker restarted (pid {worker.process.pid})", file=sys.stderr, flush=True)
        time.sleep(0.2)


def run_dev(settings: Settings, cli: list[str]) -> int:
    """Servers, seed, API and worker; 0 after Ctrl-C/SIGTERM. `cli` runs a `books` command.

    Returns non-zero when seeding fails, or when the API or a server dies on its own (the rest
    is stopped then).
    """
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    previous_int = signal.signal(signal.SIGINT, _raise_interrupt)
    children: list[subprocess.Popen[bytes]] = []
    worker: Restarted | None = None
    try:
        with embedded_servers(
            data_dir, mongodb_url=settings.mongodb_url, redis_url=settings.redis_url
        ) as servers:
            try:
                env = python_env() | {
                    "MONGODB_URL": servers.mongodb_url,
                    "REDIS_URL": servers.redis_url,
                    "JWT_SECRET": settings.jwt_secret or jwt_secret(data_dir),
                    "CORS_ORIGINS": dev_cors_origins(settings),
                }
                # Seeding is idempotent: it loads what is missing.
                seed = _start_child([*cli, "seed", "--scale", str(settings.demo_scale)], env)
                children.append(seed)
                code = seed.wait()
                if code != 0:
                    print(f"dev: seed failed (exit {code})", file=sys.stderr)
                    return code
                api = _start_child([*cli, "serve"], env)
                children.append(api)
                worker = Restarted([*cli, "worker"], env)
                print(_banner(settings, servers), flush=True)
                print(
                    f"dev: worker started (pid {worker.process.pid})", file=sys.stderr, flush=True
                )
                name, code = _supervise(api, worker, servers)
                print(f"dev: {name} exited unexpectedly (exit {code}); stopping", file=sys.stderr)
                return code if code > 0 else 1
            finally:
                # Teardown must finish: a second Ctrl-C must not leave servers behind.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                # The worker's current process: it may have been restarted since.
                stop_processes(*children, *([worker.process] if worker else []))
    except KeyboardInterrupt:
        print("dev: stopped", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
