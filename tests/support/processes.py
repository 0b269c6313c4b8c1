"""Real processes: API servers under uvicorn and workers, as `books` runs them, and
`books worker status`. Every child's output goes to a log file under LOGS."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devtools.embedded import free_port, settings_env
from service.settings import Settings

LOGS = Path(os.environ.get("TEST_LOG_DIR", "/tmp/books-test-logs"))


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path  # stderr, and stdout unless `out` is set
    out: Path | None = None

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no acknowledgement, as in a crash."""
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stdout_lines(self) -> list[str]:
        """What the program wrote to its own stdout (`separate_stdout`), line by line."""
        assert self.out is not None
        return self.out.read_text(errors="replace").splitlines()


def start_python(
    name: str, args: list[str], env: dict[str, str], separate_stdout: bool = False
) -> Child:
    """`python ARGS` (this interpreter) as a child logging to a file of its own; with
    `separate_stdout`, its stdout goes to a file of its own (`Child.stdout_lines`)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}-{os.getpid()}-{time.monotonic_ns()}.log"
    out = log.with_suffix(".out") if separate_stdout else None
    with log.open("wb") as err, out.open("wb") if out else nullcontext(err) as stdout:
        argv = [sys.executable, *args]
        process = subprocess.Popen(argv, env=env, stdout=stdout, stderr=err)
    return Child(name, process, log, out)


def start_child(
    name: str, args: list[str], env: dict[str, str], separate_stdout: bool = False
) -> Child:
    """`books ARGS` as a child."""
    return start_python(name, ["-m", "app.cli", *args], env, separate_stdout)


def start_worker(settings: Settings, name: str, **extra: str) -> Child:
    return start_child(
        f"worker-{name}", ["worker", "run", "--name", name], settings_env(settings, **extra)
    )


# `books worker run` whose figure writes (workers.aggregates.store_figures, called once per
# kind of aggregate a batch touches) are slow at times: with chance PIPELINE_STALL_CHANCE a
# write first sleeps PIPELINE_STALL_MS, after its sources were read (a GC pause, a slow disk,
# lost CPU); and while the file PIPELINE_HOLD_FILE exists every write waits for it to go,
# after printing HOLDING: the worker is then inside a batch it read, holding it unacknowledged.
SLOW_WORKER = """
import asyncio, os, random, sys
import workers.aggregates as aggregates
stall = int(os.environ.get("PIPELINE_STALL_MS", "0")) / 1000
chance = float(os.environ.get("PIPELINE_STALL_CHANCE", "0"))
hold = os.environ.get("PIPELINE_HOLD_FILE", "")
store_figures = aggregates.store_figures
async def slow_store_figures(*args, **kwargs):
    if hold and os.path.exists(hold):
        print("HOLDING a batch", flush=True)
        while os.path.exists(hold):
            await asyncio.sleep(0.02)
    elif random.random() < chance:
        await asyncio.sleep(stall)
    return await store_figures(*args, **kwargs)
aggregates.store_figures = slow_store_figures
from app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start_slow_worker(
    settings: Settings,
    name: str,
    *,
    stall_ms: int = 0,
    stall_chance: float = 0.0,
    hold_file: Path | None = None,
    **extra: str,
) -> Child:
    """A worker process whose figure writes stall at times, or hold while `hold_file` exists
    (see SLOW_WORKER)."""
    env = settings_env(
        settings,
        PIPELINE_STALL_MS=str(stall_ms),
        PIPELINE_STALL_CHANCE=str(stall_chance),
        PIPELINE_HOLD_FILE=str(hold_file or ""),
        **extra,
    )
    args = ["-c", SLOW_WORKER, "worker", "run", "--name", name]
    return start_python(f"worker-{name}", args, env)


@dataclass
class ApiServer:
    child: Child
    url: str

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"


def start_api(settings: Settings, timeout: float = 30, **extra: str) -> ApiServer:
    port = free_port()
    env = settings_env(settings, HOST="127.0.0.1", PORT=str(port), **extra)
    child = start_child("api", ["serve"], env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"API exited early:\n{child.output()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return ApiServer(child, url)
        except httpx.HTTPError:
            time.sleep(0.1)
    child.kill()
    raise RuntimeError(f"API did not start:\n{child.output()}")


@contextmanager
def running(*children: Child) -> Iterator[None]:
    """Stop every child at the end of the block, whatever happened in it."""
    try:
        yield
    finally:
        for child in children:
            if child.process.poll() is None:
                child.signal(signal.SIGTERM)
        for child in children:
            try:
                child.process.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()


def run_books(
    settings: Settings, *args: str, timeout: float = 60, **extra: str
) -> subprocess.CompletedProcess[str]:
    """`books ARGS` run to its end with `settings` (and `extra` variables); its exit code and
    output (text)."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=settings_env(settings, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def books_json(settings: Settings, *args: str) -> Any:
    """`books ARGS`, run as a command that must succeed, its JSON output parsed."""
    done = run_books(settings, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def worker_status(settings: Settings) -> dict[str, Any]:
    """`books worker status`, run as a command, parsed."""
    return books_json(settings, "worker", "status")  # type: ignore[no-any-return]


def status_of(status: dict[str, Any], worker: str) -> dict[str, Any] | None:
    """One worker's entry in `books worker status`."""
    return next((w for w in status["workers"] if w["name"] == worker), None)
