"""Driving load with wrk and measuring the API process while it serves it.

One measurement ("sample") of a row:

1. read the API's MongoDB command counters (GET /metrics, `mongodb_commands` gauges), the
   responses it completed (GET /bench/stats) and its CPU time (/proc);
2. run wrk (1 thread, a few connections, a Lua script sending the row's POST bodies) for the
   window; wrk reports requests, latency percentiles and bad responses (non-200, or a body
   holding GraphQL `errors`);
3. wait for the requests wrk abandoned at the end of the window to finish, read again.

CPU per request = CPU time of the API process over the window / responses it completed in
that window (both counted by the process itself, so requests cut off by the end of the window
count on both sides). The CPU time is the sum of the run time of the process's threads in
/proc/<pid>/task/*/schedstat (nanoseconds); utime+stime from /proc/<pid>/stat (10 ms ticks)
is recorded beside it. Commands per request = the counters' difference (less what the
/metrics scrape itself sends, calibrated per process) / responses.
"""

import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

CLK_TCK = os.sysconf("SC_CLK_TCK")
METRIC_LINE = re.compile(r'^mongodb_commands\{command="([^"]+)"\}\s+([0-9.e+]+)$', re.M)
WRK_HINT = (
    "wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) or see https://github.com/wg/wrk"
)


class BenchError(RuntimeError):
    pass


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise BenchError(WRK_HINT)
    return found


def cpu_stat_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def busy_seconds() -> float:
    """CPU time all CPUs spent busy (not idle or waiting for I/O), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def own_seconds(pids: Sequence[int]) -> float:
    """CPU time of the given processes, this driver and its finished children (wrk)."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_stat_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return total + sum(u.ru_utime + u.ru_stime for u in (self_usage, children))


def cpu_run_seconds(pid: int) -> float:
    """Run time of every thread of the process, from /proc/<pid>/task/*/schedstat (ns)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total / 1e9


@dataclass
class Api:
    """One API process under test."""

    name: str
    url: str
    pid: int
    scrape_cost: dict[str, float] = field(default_factory=dict)

    def commands(self) -> dict[str, float]:
        text = httpx.get(f"{self.url}/metrics", timeout=30).text
        return {name: float(value) for name, value in METRIC_LINE.findall(text)}

    def stats(self) -> dict[str, object]:
        found: dict[str, object] = httpx.get(f"{self.url}/bench/stats", timeout=30).json()
        return found

    def calibrate(self) -> None:
        """What one /metrics scrape adds to the counters (its pipeline status count)."""
        self.commands()
        first = self.commands()
        second = self.commands()
        self.scrape_cost = {
            k: v - first.get(k, 0) for k, v in second.items() if v != first.get(k, 0)
        }


@dataclass
class Load:
    """What wrk sends: POST bodies and their Authorization headers, cycled in order."""

    path: str
    bodies: Sequence[str]
    auths: Sequence[str] = ("",)

    def __post_init__(self) -> None:
        if len(self.auths) not in (1, len(self.bodies)):
            raise ValueError("one Authorization for all bodies, or one per body")


@dataclass
class Sample:
    requests: int  # completed, as wrk counted them
    served: int  # completed, as the API counted them (over the CPU window)
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    cpu_ms: float  # per served request (schedstat)
    cpu_ms_ticks: float  # per served request (utime+stime)
    commands: float  # MongoDB commands per served request
    command_counts: dict[str, float]
    bad: int
    socket_errors: int
    foreign_cpu: float = 0.0  # share of the machine's CPUs busy with processes not ours

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _lua_string(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


def lua_script(load: Load) -> str:
    auths = list(load.auths) * (len(load.bodies) if len(load.auths) == 1 else 1)
    bodies = ",\n".join(_lua_string(b) for b in load.bodies)
    headers = ",\n".join(_lua_string(a) for a in auths)
    return f"""-- generated by bench.load: POST bodies cycled in order, bad responses counted
local bodies = {{
{bodies}
}}
local auths = {{
{headers}
}}
local reqs = {{}}
local n = 0
bad = 0
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for i = 1, #bodies do
    local headers = {{["Content-Type"] = "application/json", ["Accept"] = "application/json"}}
    if auths[i] ~= "" then headers["Authorization"] = auths[i] end
    reqs[i] = wrk.format("POST", {_lua_string(load.path)}, headers, bodies[i])
  end
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + (t:get("bad") or 0) end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {{"requests":%d,"duration_us":%d,"socket_errors":%d,"status_errors":%d,' ..
    '"bad":%d,"p50":%d,"p90":%d,"p99":%d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    b, latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
"""


@dataclass
class Wrk:
    binary: str
    connections: int = 4
    cpu: set[int] | None = None  # cores wrk may run on
    timeout_s: int = 30

    def run(self, url: str, script: Path, seconds: float) -> dict[str, float]:
        cores = self.cpu
        process = subprocess.run(
            [
                self.binary,
                "-t1",
                f"-c{self.connections}",
                f"-d{max(1, round(seconds))}s",
                f"--timeout={self.timeout_s}s",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + self.timeout_s + 30,
            preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
            check=False,
        )
        for line in process.stdout.splitlines():
            if line.startswith("BENCHJSON "):
                found: dict[str, float] = json.loads(line.removeprefix("BENCHJSON "))
                return found
        raise BenchError(f"wrk failed ({process.returncode}):\n{process.stdout}\n{process.stderr}")


def _served(stats: dict[str, object], path: str) -> int:
    responses = stats.get("responses") or {}
    assert isinstance(responses, dict)
    return int(responses.get(path, 0))


def measure(
    api: Api,
    load: Load,
    wrk: Wrk,
    seconds: float,
    warmup: float = 0.0,
    settle: float = 0.3,
    before_window: Callable[[], None] | None = None,
    own_pids: Sequence[int] = (),
) -> Sample:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(lua_script(load))
        script = Path(file.name)
    try:
        if warmup > 0:
            wrk.run(api.url, script, warmup)
            time.sleep(settle)
        if before_window is not None:
            before_window()
        commands0, stats0 = api.commands(), api.stats()
        pids = [api.pid, *own_pids]
        busy0, own0, wall0 = busy_seconds(), own_seconds(pids), time.monotonic()
        run0, ticks0 = cpu_run_seconds(api.pid), cpu_stat_seconds(api.pid)
        result = wrk.run(api.url, script, seconds)
        time.sleep(settle)  # requests wrk abandoned at the end of its window finish
        run1, ticks1 = cpu_run_seconds(api.pid), cpu_stat_seconds(api.pid)
        busy1, own1, wall1 = busy_seconds(), own_seconds(pids), time.monotonic()
        stats1, commands1 = api.stats(), api.commands()
    finally:
        script.unlink(missing_ok=True)
    served = _served(stats1, load.path) - _served(stats0, load.path)
    if served <= 0 or result["requests"] <= 0:
        raise BenchError(f"{api.name} {load.path}: no request completed ({result})")
    counts = {
        name: commands1.get(name, 0) - commands0.get(name, 0) - api.scrape_cost.get(name, 0)
        for name in set(commands1) | set(commands0)
    }
    counts = {k: v / served for k, v in counts.items() if v}
    duration = result["duration_us"] / 1e6
    return Sample(
        requests=int(result["requests"]),
        served=served,
        seconds=duration,
        rps=result["requests"] / duration,
        p50_ms=result["p50"] / 1000,
        p90_ms=result["p90"] / 1000,
        p99_ms=result["p99"] / 1000,
        cpu_ms=(run1 - run0) * 1000 / served,
        cpu_ms_ticks=(ticks1 - ticks0) * 1000 / served,
        commands=sum(counts.values()),
        command_counts=counts,
        bad=int(result["bad"]),
        socket_errors=int(result["socket_errors"]),
        foreign_cpu=max(0.0, (busy1 - busy0) - (own1 - own0))
        / ((wall1 - wall0) * (os.cpu_count() or 1)),
    )
