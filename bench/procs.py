"""The processes a benchmark run starts: API processes (uvicorn, one each, `bench.serve`) and
the worker (`books worker run`), each pinned to its cores and logging to bench/out/."""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.load import Api, BenchError
from service.embedded import free_port, python_env
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = python_env()
    for name, value in settings.model_dump().items():
        if value is not None:
            env[name.upper()] = str(value)
    env.update(extra)
    return env


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
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.serve", "--loop", spec.loop, "--http", spec.http],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pinned(cores),
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
    log = logs / "worker.log"
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", "worker", "run", "--name", "bench"],
            env=settings_env(settings),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pinned(cores),
        )


def stop(processes: Iterable[subprocess.Popen[bytes]], timeout: float = 15) -> None:
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
