"""The processes a benchmark run starts: API processes (uvicorn, one each, `bench.serve`) and
the worker (`books worker run`), each pinned to its cores and logging to bench/out/."""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.load import Api, BenchError
from devtools.embedded import free_port, settings_env
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _pinned(cores: set[int] | None) -> Callable[[], None] | None:
    return (lambda: os.sched_setaffinity(0, cores)) if cores else None


@dataclass
class ApiSpec:
    name: str
    settings: Settings
    variant: str = "ours"
    loop: str = "uvloop"
    http: str = "httptools"
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Started:
    spec: ApiSpec
    process: subprocess.Popen[bytes]
    api: Api
    log: Path


def _spawn(
    argv: list[str], env: dict[str, str], log: Path, cores: set[int] | None, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    """`argv` in its own session, pinned to `cores`, logging to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pinned(cores),
        )


def start_api(spec: ApiSpec, cores: set[int] | None, logs: Path) -> Started:
    port = free_port()
    env = settings_env(
        spec.settings,
        HOST="127.0.0.1",
        PORT=str(port),
        BENCH_VARIANT=spec.variant,
        **spec.env,
    )
    log = logs / f"api-{spec.name}.log"
    process = _spawn(
        [sys.executable, "-m", "bench.serve", "--loop", spec.loop, "--http", spec.http],
        env,
        log,
        cores,
    )
    return Started(spec, process, Api(spec.name, f"http://127.0.0.1:{port}", process.pid), log)


def wait_healthy(started: Iterable[Started], timeout: float = 180) -> None:
    pending = list(started)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for one in list(pending):
            if one.process.poll() is not None:
                raise BenchError(f"API {one.spec.name} exited:\n{one.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{one.api.url}/healthz", timeout=1).status_code == 200:
                    pending.remove(one)
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    if pending:
        raise BenchError(f"APIs did not start: {[p.spec.name for p in pending]}")


def start_worker(settings: Settings, cores: set[int] | None, logs: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "app.cli", "worker", "run", "--name", "bench"]
    return _spawn(args, settings_env(settings), logs / "worker.log", cores)


NODE_PEER = ROOT / "bench" / "node-peer"


def node_peer_missing() -> str | None:
    """Why the Node peer cannot run (None when it can): node on PATH and its packages
    installed from the lockfile (`make bench` runs `npm ci` there when node is on PATH)."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (NODE_PEER / "node_modules").is_dir():
        return f"its packages are not installed: `cd {NODE_PEER} && npm ci`"
    return None


def start_node_peer(settings: Settings, cores: set[int] | None, logs: Path) -> Started:
    """bench/node-peer/server.js on a free port, on the API's cores (one process)."""
    port = free_port()
    env = settings_env(settings, HOST="127.0.0.1", PORT=str(port), NODE_ENV="production")
    log = logs / "api-node.log"
    process = _spawn(["node", "server.js"], env, log, cores, cwd=NODE_PEER)
    spec = ApiSpec("node", settings, variant="node")
    return Started(spec, process, Api("node", f"http://127.0.0.1:{port}", process.pid), log)
