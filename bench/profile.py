"""Profiles of the API under load with py-spy (sampling, out of process): where the CPU of a
book-page request goes. `bench.run --profile` records the GraphQL book page and the floor
while wrk drives them, writes the collapsed stacks and a speedscope file to bench/out/, and
prints the top costs: by area (the package of the innermost frame), by function (self time)
and a few inclusive totals (frames anywhere on the stack).
"""

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::\d+)?\)$")

# py-spy names files relative to their sys.path entry: "graphql/execution/executor.py",
# "asyncio/tasks.py", "service/mongo.py". Areas by the first path component.
AREAS = {
    "graphql": "graphql-core (validation, execution)",
    "strawberry": "strawberry",
    "pymongo": "pymongo + bson",
    "bson": "pymongo + bson",
    "starlette": "starlette",
    "uvicorn": "uvicorn + httptools",
    "httptools": "uvicorn + httptools",
    "uvloop": "event loop",
    "asyncio": "event loop",
    "redis": "redis-py",
    "prometheus_client": "prometheus_client",
    "cross_web": "strawberry",
    "service": "service (ours)",
    "schema": "schema (ours)",
    "bench": "bench (floor, variants)",
}

# Inclusive totals worth naming: a frame whose function or file matches, anywhere on the stack.
INCLUSIVE = [
    (
        "GraphQL execution (graphql-core execute, resolvers included)",
        r"execute_operation|execute_fields",
    ),
    (
        "strawberry: resolver wrappers (get_result / _get_arguments / permissions)",
        r"_async_resolver|_get_result|_get_arguments|_resolver|async_resolver",
    ),
    ("DataLoader dispatch", r"dispatch_batch|DataLoader"),
    (
        "MongoDB: pymongo commands (send, receive, decode)",
        r"_run_command|run_operation|_find|to_list|_command",
    ),
    ("BSON decode", r"_decode_all|decode_all|_bson_to_dict|_elements_to_dict"),
    ("JSON encoding (orjson)", r"encode_json|dumps"),
    (
        "Strawberry HTTP view (request parsing, context, response)",
        r"AsyncBaseHTTPView\.run|parse_http_body|create_response",
    ),
    ("get_context (Context, Loaders, token)", r"get_context"),
    (
        "Schema.execute: extensions runner and hooks",
        r"extensions_runner|SchemaExtensionsRunner|_run_hooks|ExtensionContextManager",
    ),
    (
        "validation (parse + validate, cached)",
        r"on_validate|validate_document|_validate|parse_document|on_parse",
    ),
    ("metrics (OperationGuard.observe)", r"observe"),
    (
        "uvicorn HTTP protocol + starlette routing",
        r"httptools_impl|run_asgi|starlette/routing|Router",
    ),
]


def require_py_spy() -> str | None:
    """py-spy next to this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(
    py_spy: str, pid: int, seconds: float, out: Path, fmt: str = "raw"
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "250",
            "-f",
            fmt,
            "-o",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@dataclass
class Profile:
    samples: int
    areas: list[tuple[str, float]]
    functions: list[tuple[str, float]]
    inclusive: list[tuple[str, float]]


def _frames(stack: str) -> list[tuple[str, str]]:
    found = []
    for raw in stack.split(";"):
        match = FRAME.match(raw.strip())
        if match:
            found.append((match["func"], match["file"]))
        else:
            found.append((raw.strip(), ""))
    return found


def _area(func: str, path: str) -> str:
    if not path:
        return "native (event loop, sockets, C extensions)"
    top = path.split("/", 1)[0] if "/" in path else ""
    if top in AREAS:
        return AREAS[top]
    if func == "Runner.run" or path.endswith("runners.py"):
        return "event loop"
    return "stdlib / other"


def summarize(collapsed: Path, top: int = 15) -> Profile:
    areas: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    patterns = [(name, re.compile(pattern)) for name, pattern in INCLUSIVE]
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = _frames(stack)
        # py-spy's first frame is the thread ("process 123:..."/"Thread ...") when present.
        frames = [f for f in frames if f[1] or not f[0].startswith(("process ", "Thread "))]
        if not frames:
            continue
        total += n
        func, path = frames[-1]
        # The innermost Python frame of a sample taken in native code (uvloop, socket calls,
        # C extensions) is the one that called into it: Runner.run for the event loop itself.
        areas[_area(func, path)] += n
        short = path.split("site-packages/")[-1] if path else ""
        functions[f"{func} ({short})"] += n
        text = ";".join(f"{f} {p}" for f, p in frames)
        for name, pattern in patterns:
            if pattern.search(text):
                inclusive[name] += n
    if total == 0:
        return Profile(0, [], [], [])
    pct = 100.0 / total
    return Profile(
        samples=total,
        areas=[(k, v * pct) for k, v in areas.most_common()],
        functions=[(k, v * pct) for k, v in functions.most_common(top)],
        inclusive=[(k, v * pct) for k, v in inclusive.most_common()],
    )


def render(title: str, profile: Profile) -> str:
    lines = [f"{title}: {profile.samples} samples (CPU only)", "  by area (innermost frame):"]
    lines += [f"    {share:5.1f}%  {name}" for name, share in profile.areas]
    lines.append(
        "  inclusive (anywhere on the sampled stack; a resumed coroutine's stack starts at"
        " the coroutine, so these undercount):"
    )
    lines += [f"    {share:5.1f}%  {name}" for name, share in profile.inclusive]
    lines.append("  top functions (self time):")
    lines += [f"    {share:5.1f}%  {name}" for name, share in profile.functions]
    return "\n".join(lines)
