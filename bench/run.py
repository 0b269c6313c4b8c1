"""The benchmark: `make bench` (= `.venv/bin/python -m bench.run`). Prints one table.

It starts everything it measures, in processes of their own: mongoeco (memory engine) and
redis-server (`devtools.embedded`), the API under uvicorn (one process per variant,
`bench.serve`), the worker (`books worker run`); load comes from wrk (1 thread, a Lua script
for the POST bodies) in another process. With two or more CPUs the API processes run on the
first CPU and everything else (wrk, mongoeco, redis-server, the worker, this driver) on the
others, so that the API's CPU time is its own. It needs `wrk` on PATH (`apt-get install wrk`)
and, for --profile, py-spy (`pip install -e '.[bench]'`); it installs nothing.

Phases: seed two databases (bench.data); check that the floor's JSON is byte for byte the
GraphQL response's, and every variant's the same data; then, in rounds (each row once per
round, the table shows the median over rounds): the read rows (book page, floor, technique
variants, growing books), the write rows (rateBook, likeReview, their floors), the worker's
bursts, and the freshness of ratings under a steady stream (bench/freshness.py's measure).

    python -m bench.run [--quick] [--duration 6] [--repeat 3] [--connections 4] [--profile]
"""

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from bson import ObjectId

from bench import cache_spread, data, freshness, profile, queries, worker_bench
from bench.load import Api, BenchError, Load, Sample, Wrk, measure, require_wrk
from bench.procs import (
    ROOT,
    ApiSpec,
    Started,
    node_peer_missing,
    start_api,
    start_node_peer,
    start_worker,
    wait_healthy,
)
from devtools.embedded import embedded_servers, stop_processes
from service.ids import to_global_id
from service.settings import Settings

SECRET = "bench-secret-" + "x" * 40
# Technique rows: API name -> (bench.app variant, label, settings changed). Dropped rows
# (stdjson, noprefetch, projection, tzcursor, apqredis: see bench.app) stay in RESULTS.md's
# earlier runs.
TECHNIQUES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "plain": ("plain", "stock Strawberry: its view, json, no caches, no limits", {}),
    "planned": ("ours", "planned execution (EXECUTION=planned)", {"execution": "planned"}),
    "stock": ("ours", "graphql-core's execution (EXECUTION=stock)", {"execution": "stock"}),
    "strawberryview": ("strawberryview", "Strawberry's HTTP view, not schema/http/", {}),
    "nocaches": ("nocaches", "no parse cache/validation cache", {}),
    "rulesperrequest": ("rulesperrequest", "limit rules built per request", {}),
    "fieldext": ("fieldext", "plus a per-field extension (no-op hook)", {}),
    # The loader variants route the page's reviewers through their user loader (one
    # load_many), as the one find of production's Loaders.users_by_ids would bypass it.
    "unbatched": ("unbatched", "DataLoaders not batching", {}),
    "loaderprefetch": ("loaderprefetch", "reviewers through the users DataLoader", {}),
    "aggread": ("aggread", "figures aggregated on read", {}),
    "strawberryvalcache": ("strawberryvalcache", "Strawberry's ValidationCache", {}),
}
# Proposed changes, measured as variants of production (bench.app BENCH_FIXES): name ->
# (BENCH_FIXES, what). None pending; a row per entry is added to the table.
PROPOSALS: dict[str, tuple[str, str]] = {}
LABEL_WIDTH = 66


# --- rows ------------------------------------------------------------------------------------


@dataclass
class Row:
    key: str
    label: str
    api: str
    load: Callable[[], Load]
    floor: str | None = None  # key of the row this one is compared with (x floor)
    phase: str = "read"
    after: Callable[[], None] | None = None  # after each sample (cleanup)
    samples: list[Sample] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(getattr(s, name) for s in self.samples)

    def command_counts(self) -> dict[str, float]:
        names = {k for s in self.samples for k in s.command_counts}
        return {
            k: statistics.median(s.command_counts.get(k, 0.0) for s in self.samples)
            for k in sorted(names)
        }


def body(
    document: str | None,
    variables: dict[str, Any],
    digest: str | None = None,
    operation: str | None = None,
) -> str:
    """A GraphQL-over-HTTP request body, as Apollo Client sends one (with operationName)."""
    payload: dict[str, Any] = {"variables": variables}
    if operation is not None:
        payload["operationName"] = operation
    if document is not None:
        payload = {"query": document, **payload}
    if digest is not None:
        payload["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    return orjson.dumps(payload).decode()


def page_body(book: str, first: int, operation: str | None = "BookPage") -> str:
    return body(queries.BOOK_PAGE, {"id": book, "first": first}, operation=operation)


def apq_body(book: str, first: int) -> str:
    """The book page sent by its hash alone (registered by check_same)."""
    digest = queries.sha256(queries.BOOK_PAGE)
    return body(None, {"id": book, "first": first}, digest, "BookPage")


# --- checks ----------------------------------------------------------------------------------


def post(api: Api, path: str, payload: str, token: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(f"{api.url}{path}", content=payload, headers=headers, timeout=60)


def _ok(response: httpx.Response, what: str) -> bytes:
    if response.status_code != 200 or b'"errors"' in response.content:
        raise BenchError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    return response.content


def check_same(
    apis: dict[str, Api], main_book: str, grow_books: dict[str, str], token: str
) -> list[str]:
    """Floor bytes == GraphQL bytes; every variant's data == ours. Raises on any difference."""
    done = []
    ours = apis["ours"]
    for first in (10, 30, 100):
        for who, tok in (("anonymous", None), ("viewer", token)):
            graphql = _ok(post(ours, "/graphql", page_body(main_book, first), tok), "GraphQL")
            floor_ = _ok(post(ours, "/bench/floor/book", page_body(main_book, first), tok), "floor")
            if graphql != floor_:
                raise BenchError(
                    f"floor differs from GraphQL (first={first}, {who}):\n"
                    f"graphql {graphql[:300]!r}\nfloor   {floor_[:300]!r}"
                )
            edges = orjson.loads(graphql)["data"]["book"]["reviews"]["edges"]
            if len(edges) != first:
                raise BenchError(f"page of {first} has {len(edges)} reviews")
            done.append(
                f"floor == GraphQL, byte for byte: first={first}, {who} ({len(graphql):,} bytes)"
            )
    if "grow" in apis:
        for label, book in grow_books.items():
            graphql = _ok(post(apis["grow"], "/graphql", page_body(book, 30), None), "GraphQL")
            floor_ = _ok(
                post(apis["grow"], "/bench/floor/book", page_body(book, 30), None), "floor"
            )
            if graphql != floor_:
                raise BenchError(f"floor differs from GraphQL ({label})")
            count = orjson.loads(graphql)["data"]["book"]["reviewsCount"]
            done.append(f"floor == GraphQL, byte for byte: book with {count:,} reviews, first=30")
    if "node" in apis:
        done += check_peer(apis["node"], ours, main_book, token)
    reference = orjson.loads(_ok(post(ours, "/graphql", page_body(main_book, 30)), "GraphQL"))
    for name, api in apis.items():
        if name in ("ours", "grow", "node"):
            continue
        if name == "cached":
            post(api, "/graphql", page_body(main_book, 30))
            hit = post(api, "/graphql", page_body(main_book, 30))
            if hit.headers.get("x-cache") != "hit" or orjson.loads(_ok(hit, name)) != reference:
                raise BenchError("the response cache did not serve the same page")
            done.append("response cache: second request is a hit, same data")
            continue
        got = orjson.loads(_ok(post(api, "/graphql", page_body(main_book, 30)), name))
        if got != reference:
            raise BenchError(f"variant {name} returns other data than production")
        done.append(f"variant {name}: same data as production")
    digest = queries.sha256(queries.BOOK_PAGE)
    variables = {"id": main_book, "first": 30}
    _ok(
        post(ours, "/graphql", body(queries.BOOK_PAGE, variables, digest, "BookPage")),
        "APQ register",
    )
    apq = orjson.loads(
        _ok(post(ours, "/graphql", body(None, variables, digest, "BookPage")), "APQ hash only")
    )
    if apq != reference:
        raise BenchError("APQ (hash only) returns other data")
    done.append("APQ: hash-only request returns the same data")
    return done


def check_peer(peer: Api, ours: Api, main_book: str, token: str) -> list[str]:
    """The Node peer's data == ours (ids, cursors, figures, dates) for every measured page."""
    done = []
    for first in (10, 30, 100):
        for who, tok in (("anonymous", None), ("viewer", token)):
            payload = page_body(main_book, first)
            graphql = _ok(post(ours, "/graphql", payload, tok), "GraphQL")
            node = _ok(post(peer, "/graphql", payload, tok), "Node peer")
            if orjson.loads(node) != orjson.loads(graphql):
                raise BenchError(
                    f"the Node peer's data differs (first={first}, {who}):\n"
                    f"graphql {graphql[:300]!r}\nnode    {node[:300]!r}"
                )
            same = (
                "byte for byte" if node == graphql else f"{len(node):,} vs {len(graphql):,} bytes"
            )
            done.append(f"Node peer == GraphQL, same JSON data: first={first}, {who} ({same})")
    return done


async def _keyset_check(settings: Settings, book: ObjectId) -> str:
    """Page 2 of the biggest book: a keyset find on the service's index keys, never a skip."""
    from pymongo import AsyncMongoClient
    from pymongo.monitoring import CommandListener

    from service.mongo import INDEXES, Store
    from service.repositories import entries

    finds: list[dict[str, Any]] = []

    class Finds(CommandListener):
        def started(self, event: Any) -> None:
            if event.command_name == "find":
                finds.append(dict(event.command))

        def succeeded(self, event: Any) -> None:
            pass

        def failed(self, event: Any) -> None:
            pass

    client: AsyncMongoClient[Any] = AsyncMongoClient(
        settings.mongodb_url, tz_aware=True, event_listeners=[Finds()], socketTimeoutMS=120_000
    )
    try:
        store = Store(client[settings.mongodb_db])
        popular = entries.ReviewOrder.POPULAR
        first = await entries.book_reviews(
            store, book, first=30, after=None, order=popular, stars=None, search=None
        )
        cursor = first.ordering.cursor_of(first.docs[-1])
        await entries.book_reviews(
            store, book, first=30, after=cursor, order=popular, stars=None, search=None
        )
    finally:
        await client.close()
    command = finds[-1]
    if "skip" in command:
        raise BenchError(f"page 2 uses skip: {command}")
    equality = [k for k, v in command["filter"].items() if not k.startswith("$")]
    keys = [*((k, 1) for k in equality), *command["sort"].items()]
    indexed = any(
        [k for k, _ in keys] == list(model.document["key"])[: len(keys)]
        for model in INDEXES["reviews"]
    )
    if not indexed:
        raise BenchError(f"no index of reviews starts with {keys}")
    return (
        f"keyset: page 2 of the {book} book is one find on {[k for k, _ in keys]}"
        f" (an index prefix), limit {command.get('limit')}, no skip"
    )


# --- environment -----------------------------------------------------------------------------


def _first_line(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "?"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def environment() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            memory = f"{int(line.split()[1]) // 1024} MiB"
    versions = {"python": platform.python_version()}
    for package in (
        "strawberry-graphql",
        "graphql-core",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "pymongo",
        "redis",
        "mongoeco",
        "orjson",
    ):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "-"
    from devtools.embedded import redis_server_binary

    versions["redis-server"] = _first_line([redis_server_binary(), "--version"])
    versions["wrk"] = _first_line(["wrk", "--version"])
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "kernel": platform.release(),
        "versions": versions,
    }


# --- output ----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


HEADER = (
    f"{'row':<{LABEL_WIDTH}} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/req':>10}"
    f" {'Mongo cmds/req':>14} {'x floor':>7}"
)


def table_line(
    label: str,
    rps: float | None,
    p50: float | None,
    p99: float | None,
    cpu: float | None,
    commands: float | None,
    ratio: float | None,
    note: str = "",
) -> str:
    line = (
        f"{label:<{LABEL_WIDTH}} {_fmt(rps, 1):>7} {_fmt(p50):>7} {_fmt(p99):>7} {_fmt(cpu, 3):>10}"
        f" {_fmt(commands, 2):>14} {(f'{ratio:.2f}x' if ratio else '-'):>7}"
    )
    return f"{line}  {note}" if note else line


def row_line(row: Row, rows: dict[str, Row]) -> str:
    cpu = row.median("cpu_ms")
    ratio = None
    if row.floor and rows.get(row.floor) and rows[row.floor].samples:
        ratio = cpu / rows[row.floor].median("cpu_ms")
    counts = row.command_counts()
    note = ", ".join(f"{v:g} {k}" for k, v in counts.items() if round(v, 2))
    bad = sum(s.bad for s in row.samples)
    if bad:
        note += f"  [{bad} bad responses]"
    return table_line(
        row.label,
        row.median("rps"),
        row.median("p50_ms"),
        row.median("p99_ms"),
        cpu,
        row.median("commands"),
        ratio,
        note,
    )


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured window")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of warm-up per row (first round)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the table shows medians")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s windows (a smoke run)")
    parser.add_argument("--no-techniques", action="store_true", help="skip the technique variants")
    parser.add_argument("--no-grow", action="store_true", help="skip the 30/300/3,000-review books")
    parser.add_argument("--no-writes", action="store_true", help="skip rateBook/likeReview rows")
    parser.add_argument("--no-proposals", action="store_true", help="skip the proposed-change rows")
    parser.add_argument("--no-worker", action="store_true", help="skip the worker rows")
    parser.add_argument("--no-node", action="store_true", help="skip the Node peer's rows")
    parser.add_argument("--bursts", type=int, default=3, help="timed bursts per worker row")
    parser.add_argument("--freshness-rate", type=float, default=20.0, help="ratings per second")
    parser.add_argument("--freshness-seconds", type=float, default=10.0)
    parser.add_argument("--profile", action="store_true", help="py-spy profiles of the book page")
    parser.add_argument("--profile-seconds", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="logs and results")
    parser.add_argument(
        "--render", type=Path, default=None, help="print the output of a results-*.json again"
    )
    options = parser.parse_args(argv)
    if options.quick:
        options.duration, options.warmup, options.repeat, options.bursts = 3.0, 1.0, 1, 1
        options.freshness_seconds = 5.0
    return options


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks: everything is stopped


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminated)
    if options.render is not None:
        print(render_results(json.loads(options.render.read_text()), options.render.parent))
        return 0
    try:
        wrk_binary = require_wrk()
    except BenchError as missing:
        print(f"bench: {missing}", file=sys.stderr)
        return 2
    py_spy = profile.require_py_spy() if options.profile else None
    if options.profile and py_spy is None:
        print(
            "bench: --profile needs py-spy: `.venv/bin/pip install -e '.[bench]'`", file=sys.stderr
        )
        return 2
    command = shlex.join(
        ["python", "-m", "bench.run", *(argv if argv is not None else sys.argv[1:])]
    )
    options.out.mkdir(parents=True, exist_ok=True)
    cores = sorted(os.sched_getaffinity(0))
    api_cores: set[int] | None = None
    other_cores: set[int] | None = None
    if len(cores) >= 2:
        api_cores, other_cores = {cores[0]}, set(cores[1:])
        os.sched_setaffinity(0, other_cores)  # this driver and what it starts: not the API's CPU
        layout = (
            f"API processes on CPU {cores[0]}; wrk (1 thread, {options.connections} connections),"
            " mongoeco, redis-server, the worker and this driver on CPU"
            f" {','.join(map(str, cores[1:]))}"
        )
    else:
        layout = "one CPU: no pinning (the API shares its CPU with wrk and the databases)"
    env = environment()
    missing = None if options.no_node else node_peer_missing()
    options.node_peer = not options.no_node and missing is None
    if missing:
        say(f"bench: no Node peer rows: {missing}")
    wrk = Wrk(wrk_binary, options.connections, other_cores)
    started_at = time.monotonic()

    with embedded_servers(None) as servers:
        for server in servers.processes:
            if other_cores:
                os.sched_setaffinity(server.process.pid, other_cores)
        say("bench: seeding (mongoeco is slow to insert; about a minute) ...")
        seeded = time.monotonic()
        main_world, grow_world = data.seed_all(servers.mongodb_url, "bench_main", "bench_grow")
        if options.no_grow:
            grow_world.books.clear()
        say(f"bench: seeded in {time.monotonic() - seeded:.0f} s")

        def settings(db: str, **extra: Any) -> Settings:
            values: dict[str, Any] = {
                "mongodb_url": servers.mongodb_url,
                "redis_url": servers.redis_url,
                "mongodb_db": db,
                "mongodb_timeout_ms": 60_000,
                "stream_key": f"events:{db}",
                "dead_letter_stream": f"events:{db}:dead",
                "stats_channel": f"book-stats:{db}",
                "redis_prefix": db,
                "jwt_secret": SECRET,
                "log_level": "WARNING",
                "json_logs": False,
                "rate_limit_enabled": False,  # one client sends everything: no per-client limits
                "response_cache": False,
            }
            return Settings(**(values | extra))

        main_settings = settings(main_world.db)
        specs = [
            ApiSpec("ours", main_settings),
            ApiSpec("cached", settings(main_world.db, response_cache=True)),
        ]
        if not options.no_grow:
            specs.append(ApiSpec("grow", settings(grow_world.db), env={"BENCH_SKIP_INDEXES": "1"}))
        if not options.no_techniques:
            for name, (variant, _, changed) in TECHNIQUES.items():
                spec_settings = settings(main_world.db, **changed)
                specs.append(ApiSpec(name, spec_settings, variant=variant))
            specs.append(ApiSpec("h11", main_settings, loop="asyncio", http="h11"))
        if not options.no_proposals:
            specs += [
                ApiSpec(name, main_settings, env={"BENCH_FIXES": fixes})
                for name, (fixes, _) in PROPOSALS.items()
            ]
        started: list[Started] = [start_api(spec, api_cores, options.out) for spec in specs]
        if options.node_peer:
            started.append(start_node_peer(main_settings, api_cores, options.out))
        worker = start_worker(main_settings, other_cores, options.out)
        try:
            wait_healthy(started)
            apis = {s.spec.name: s.api for s in started}
            for api in apis.values():
                api.calibrate()
            token = data.token_for(main_world.viewer, SECRET)
            main_book = to_global_id("Book", main_world.books["main"])
            grow_books = {k: to_global_id("Book", v) for k, v in grow_world.books.items()}
            checks = check_same(apis, main_book, grow_books, token)
            if grow_world.books:
                biggest = max(grow_world.books, key=lambda k: int(k[1:]))
                checks.append(
                    asyncio.run(
                        _keyset_check(settings(grow_world.db), grow_world.books[biggest])
                    ).replace(str(grow_world.books[biggest]), f"{int(biggest[1:]):,}-review")
                )
            for line in checks:
                say(f"bench: check ok: {line}")
            rows = build_rows(options, main_world, main_book, grow_books, token, main_settings)
            own_pids = [
                *(s.process.pid for s in started),
                worker.pid,
                *(server.process.pid for server in servers.processes),
            ]
            run_rows(rows, apis, wrk, options, own_pids)
            profiles = run_profiles(options, py_spy, apis, rows, wrk) if py_spy else []
            bursts = (
                [] if options.no_worker else run_worker_rows(options, main_settings, main_world)
            )
            fresh = run_freshness(options, apis["cached"], main_settings)
            spread = run_cache_spread(options, apis["cached"], main_world, main_settings)
        finally:
            stop_processes(*[s.process for s in started], worker, timeout=15)

    elapsed = time.monotonic() - started_at
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    results = {
        "command": command,
        "environment": env,
        "layout": layout,
        "elapsed": elapsed,
        "options": {
            "repeat": options.repeat,
            "duration": options.duration,
            "warmup": options.warmup,
            "connections": options.connections,
        },
        "checks": checks,
        "rows": {
            r.key: {
                "label": r.label,
                "api": r.api,
                "floor": r.floor,
                "phase": r.phase,
                "samples": [s.as_dict() for s in r.samples],
            }
            for r in rows.values()
        },
        "bursts": [
            {
                "label": b.label,
                "events": b.events,
                "seconds": b.seconds,
                "commands": b.commands,
                "batches": b.batches,
            }
            for b in bursts
        ],
        "freshness": fresh,
        "cache_spread": spread,
        "profiles": [
            {
                "title": t,
                "file": str(options.out / f"profile-{k}.txt"),
                "samples": p.samples,
                "areas": p.areas,
                "inclusive": p.inclusive,
                "functions": p.functions,
            }
            for k, t, p in profiles
        ],
    }
    (options.out / f"results-{stamp}.json").write_text(json.dumps(results, indent=1, default=str))
    text = render_results(results, options.out)
    print(text)
    (options.out / f"table-{stamp}.txt").write_text(text + "\n")
    say(f"bench: results in {options.out}/results-{stamp}.json ({elapsed / 60:.1f} min)")
    return 0


def build_rows(
    options: argparse.Namespace,
    world: data.World,
    book: str,
    grow_books: dict[str, str],
    token: str,
    settings: Settings,
) -> dict[str, Row]:
    rows: list[Row] = []

    def fixed(path: str, payload: str, auth: str = "") -> Callable[[], Load]:
        return lambda: Load(path, [payload], [auth])

    bearer = f"Bearer {token}"
    page30 = page_body(book, 30)
    peers = ["node"] if options.node_peer else []
    for first in (10, 30, 100):
        payload = page_body(book, first)
        for suffix, who, auth in (("", "anonymous", ""), ("v", "viewer", bearer)):
            floor_key = f"floor{first}{suffix}"
            what = f"book page, {first} reviews, {who}"
            rows.append(
                Row(
                    f"gql{first}{suffix}",
                    f"{what}: GraphQL",
                    "ours",
                    fixed("/graphql", payload, auth),
                    floor_key,
                )
            )
            rows.append(
                Row(floor_key, f"{what}: floor", "ours", fixed("/bench/floor/book", payload, auth))
            )
            for peer in peers:
                rows.append(
                    Row(
                        f"{peer}{first}{suffix}",
                        f"{what}: Node peer (Mercurius, jit)",
                        peer,
                        fixed("/graphql", payload, auth),
                        floor_key,
                    )
                )
    rows += [
        Row(
            "cache30",
            "book page, 30 reviews, anonymous: GraphQL, response cache hit",
            "cached",
            fixed("/graphql", page30),
            "floor30",
        ),
        Row(
            "apq30",
            "book page, 30 reviews, anonymous: GraphQL, APQ hash only",
            "ours",
            fixed("/graphql", apq_body(book, 30)),
            "floor30",
        ),
        Row(
            "cache30noname",
            "book page, 30 reviews, anonymous: cache hit, no operationName",
            "cached",
            fixed("/graphql", page_body(book, 30, operation=None)),
            "floor30",
        ),
    ]
    for label, gid in grow_books.items():
        n = int(label[1:])
        payload = page_body(gid, 30)
        rows += [
            Row(
                f"grow{n}",
                f"book with {n:,} reviews, 30/page, anonymous: GraphQL",
                "grow",
                fixed("/graphql", payload),
                f"growfloor{n}",
            ),
            Row(
                f"growfloor{n}",
                f"book with {n:,} reviews, 30/page, anonymous: floor",
                "grow",
                fixed("/bench/floor/book", payload),
            ),
        ]
    if not options.no_techniques:
        for name, (_, what, _) in TECHNIQUES.items():
            rows.append(
                Row(
                    f"t-{name}",
                    f"30 anon: GraphQL, {what}",
                    name,
                    fixed("/graphql", page30),
                    "floor30",
                )
            )
        for name in ("planned", "stock"):
            rows.append(
                Row(
                    f"t-{name}100",
                    f"100 anon: GraphQL, {TECHNIQUES[name][1]}",
                    name,
                    fixed("/graphql", page_body(book, 100)),
                    "floor100",
                )
            )
        rows.append(
            Row(
                "t-h11",
                "30 anon: GraphQL on asyncio + h11",
                "h11",
                fixed("/graphql", page30),
                "floor30",
            )
        )
    if not options.no_proposals:
        for name, (_, what) in PROPOSALS.items():
            rows.append(
                Row(
                    name,
                    f"30 anon: GraphQL + {what}",
                    name,
                    fixed("/graphql", page30),
                    "floor30",
                )
            )
    if not options.no_writes:
        # Mutations refuse a token whose user does not exist: raters and likers are users.
        raters = freshness.insert_readers(settings, 50, "rater")
        rate_bodies = [
            body(queries.RATE_BOOK, {"b": book, "s": 1 + (i // 50) % 5}, operation="RateBook")
            for i in range(250)
        ]
        rate_auths = [f"Bearer {data.token_for(raters[i % 50], SECRET)}" for i in range(250)]
        like_state: dict[str, list[ObjectId]] = {"likers": []}

        def like_load(path: str) -> Callable[[], Load]:
            def make() -> Load:
                likers = freshness.insert_readers(settings, 20, f"liker{ObjectId()}_")
                like_state["likers"] += likers
                pairs = [(u, r) for u in likers for r in world.reviews[:100]]
                tokens = {u: f"Bearer {data.token_for(u, SECRET)}" for u in likers}
                return Load(
                    path,
                    [
                        body(
                            queries.LIKE_REVIEW,
                            {"r": to_global_id("Review", r)},
                            operation="LikeReview",
                        )
                        for _, r in pairs
                    ],
                    [tokens[u] for u, _ in pairs],
                )

            return make

        def forget_likes() -> None:
            """Keep the likes collection at its seeded size (mongoeco inserts scan it)."""
            from pymongo import MongoClient

            client: MongoClient[dict[str, Any]]
            with MongoClient(settings.mongodb_url) as client:
                client[settings.mongodb_db].likes.delete_many(
                    {"user_id": {"$in": like_state["likers"]}}
                )
            like_state["likers"] = []

        rows += [
            Row(
                "rate",
                "rateBook: GraphQL",
                "ours",
                lambda: Load("/graphql", rate_bodies, rate_auths),
                "ratefloor",
                "write",
            ),
            Row(
                "ratefloor",
                "rateBook: floor",
                "ours",
                lambda: Load("/bench/floor/rate", rate_bodies, rate_auths),
                None,
                "write",
            ),
            Row(
                "like",
                "likeReview: GraphQL",
                "ours",
                like_load("/graphql"),
                "likefloor",
                "write",
                forget_likes,
            ),
            Row(
                "likefloor",
                "likeReview: floor",
                "ours",
                like_load("/bench/floor/like"),
                None,
                "write",
                forget_likes,
            ),
        ]
    return {r.key: r for r in rows}


def run_rows(
    rows: dict[str, Row],
    apis: dict[str, Api],
    wrk: Wrk,
    options: argparse.Namespace,
    own_pids: list[int],
) -> None:
    for phase in ("read", "write"):
        selected = [r for r in rows.values() if r.phase == phase]
        for round_ in range(options.repeat):
            for row in selected:
                say(f"bench: [{phase} {round_ + 1}/{options.repeat}] {row.label}")
                sample = measure(
                    apis[row.api],
                    row.load(),
                    wrk,
                    options.duration,
                    warmup=options.warmup if round_ == 0 else 0.0,
                    own_pids=[p for p in own_pids if p != apis[row.api].pid],
                )
                if row.after is not None:
                    row.after()
                row.samples.append(sample)


def run_profiles(
    options: argparse.Namespace, py_spy: str, apis: dict[str, Api], rows: dict[str, Row], wrk: Wrk
) -> list[tuple[str, str, profile.Profile]]:
    found = []
    for key, title in (
        ("gql30", "GraphQL book page (30 reviews, anonymous)"),
        ("floor30", "floor book page (30 reviews, anonymous)"),
    ):
        row = rows[key]
        api = apis[row.api]
        out = options.out / f"profile-{key}.txt"
        say(f"bench: profiling {title} for {options.profile_seconds:.0f} s")
        recorder = profile.record(py_spy, api.pid, options.profile_seconds, out)
        time.sleep(0.5)
        measure(api, row.load(), wrk, options.profile_seconds)
        recorder.wait(60)
        found.append((key, title, profile.summarize(out)))
    return found


def run_worker_rows(
    options: argparse.Namespace, settings: Settings, world: data.World
) -> list[worker_bench.BurstResult]:
    say("bench: worker bursts")
    return [
        worker_bench.run_burst("hot", settings, [world.books["main"]], 1000, options.bursts),
        worker_bench.run_burst("spread", settings, world.spread_books, 1000, options.bursts),
    ]


def run_freshness(options: argparse.Namespace, api: Api, settings: Settings) -> dict[str, Any]:
    """bench/freshness.py's measure: ratings at a steady rate, polled anonymously (through the
    response cache) and pushed by the subscription."""
    from pymongo import MongoClient

    say("bench: freshness")
    book = ObjectId()
    doc: dict[str, Any] = {"_id": book, "title": "Freshness", "genres": [], "author_ids": []}
    client: MongoClient[dict[str, Any]]
    with MongoClient(settings.mongodb_url) as client:
        client[settings.mongodb_db].books.insert_one(doc)  # type: ignore[arg-type]
    total = int(options.freshness_rate * options.freshness_seconds)
    tokens = freshness.reader_tokens(settings, total, "fresh")
    seen = asyncio.run(
        freshness.measure(
            api.url,
            to_global_id("Book", book),
            tokens,
            options.freshness_rate,
            options.freshness_seconds,
            None,
        )
    )
    poll = [d * 1000 for d in freshness.freshness(seen.accepted, seen.polls)]
    push = [d * 1000 for d in freshness.freshness(seen.accepted, seen.pushes)]
    writes = [d * 1000 for d in seen.write_latency]
    return {
        "ratings": total,
        "rate": options.freshness_rate,
        "poll_p50": freshness.percentile(poll, 50),
        "poll_p99": freshness.percentile(poll, 99),
        "push_p50": freshness.percentile(push, 50),
        "push_p99": freshness.percentile(push, 99),
        "write_p50": freshness.percentile(writes, 50),
        "write_p99": freshness.percentile(writes, 99),
    }


def run_cache_spread(
    options: argparse.Namespace, api: Api, world: data.World, settings: Settings
) -> dict[str, Any]:
    """bench/cache_spread.py's measure: readers over 100 books, ratings on 10 of them."""
    say("bench: response cache under writes")
    books = [to_global_id("Book", b) for b in world.spread_books]
    hot, cold = books[:10], books[10:]
    total = int(options.freshness_rate * options.freshness_seconds)
    tokens = freshness.reader_tokens(settings, total, "spread")
    return asyncio.run(cache_spread.measure(api.url, cold, hot, tokens, options.freshness_rate))


def render_results(results: dict[str, Any], folder: Path | None = None) -> str:
    """The printed output, from a results file's content (see --render); profiles are
    summarized again from their collapsed stacks when those are still in `folder`."""
    rows = {
        key: Row(
            key,
            row["label"],
            row["api"],
            lambda: Load("/", [""]),
            row["floor"],
            row.get("phase", "read"),
            samples=[Sample(**sample) for sample in row["samples"]],
        )
        for key, row in results["rows"].items()
    }
    bursts = [
        worker_bench.BurstResult(b["label"], b["events"], b["seconds"], b["commands"], b["batches"])
        for b in results["bursts"]
    ]
    options = argparse.Namespace(**results["options"])
    text = render(
        options,
        results["environment"],
        results["layout"],
        results["command"],
        rows,
        bursts,
        results["freshness"],
        results["checks"],
        results.get("cache_spread") or {},
        results["elapsed"],
    )
    for found in results.get("profiles", []):
        key = "gql30" if found["title"].startswith("GraphQL") else "floor30"
        raw = Path(found.get("file") or (folder or Path(".")) / f"profile-{key}.txt")
        if raw.exists():
            summary = profile.summarize(raw)  # summarized again with the current rules
        else:
            summary = profile.Profile(
                found["samples"],
                [tuple(x) for x in found["areas"]],
                [tuple(x) for x in found["functions"]],
                [tuple(x) for x in found["inclusive"]],
            )
        text += "\n\n" + profile.render(found["title"], summary)
    return text


def render(
    options: argparse.Namespace,
    env: dict[str, Any],
    layout: str,
    command: str,
    rows: dict[str, Row],
    bursts: list[worker_bench.BurstResult],
    fresh: dict[str, Any],
    checks: list[str],
    spread: dict[str, Any],
    elapsed: float,
) -> str:
    v = env["versions"]
    lines = [
        f"bench: {command}   ({env['date']}, {elapsed / 60:.1f} min)",
        f"machine: {env['nproc']} CPU ({env['cpu']}), {env['memory']}; {layout}",
        "versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"each row: {options.repeat} x {options.duration:g} s windows (median), warm-up"
        f" {options.warmup:g} s; CPU = API process CPU time / responses it served;"
        " x floor = CPU ratio to the row's floor",
        foreign_line(rows),
        "",
        HEADER,
        "-" * len(HEADER),
    ]
    sections = [
        ("book page", lambda r: r.phase == "read" and not r.key.startswith(("t-", "grow", "p-"))),
        ("growing book (CPU should stay flat)", lambda r: r.key.startswith("grow")),
        (
            "techniques switched off, book page (compare with its first row)",
            lambda r: r.key.startswith("t-"),
        ),
        (
            "proposed changes, measured as variants of production",
            lambda r: r.key.startswith("p-"),
        ),
        ("mutations", lambda r: r.phase == "write"),
    ]
    for title, wanted in sections:
        chosen = [r for r in rows.values() if wanted(r) and r.samples]
        if not chosen:
            continue
        lines.append(f"[{title}]")
        lines += [row_line(r, rows) for r in chosen]
    if bursts:
        lines.append("[worker]")
        for burst in bursts:
            what = "one hot book" if burst.label == "hot" else "100 books"
            note = (
                f"{burst.batches} batches; aggregate writes {burst.aggregate_writes}"
                f" (books {burst.book_writes}); "
                + ", ".join(f"{n} {k}" for k, n in sorted(burst.commands.items()))
            )
            lines.append(
                table_line(
                    f"worker: 1,000 ratings on {what} (events/s, cmds/event)",
                    burst.events_per_second,
                    None,
                    None,
                    None,
                    None,
                    None,
                    note,
                ).replace(f"{'-':>14} {'-':>7}", f"{burst.commands_per_event:>14.3f} {'-':>7}", 1)
            )
    if fresh:
        lines.append(
            table_line(
                f"freshness: rating -> visible to anonymous poller ({fresh['rate']:g}/s)",
                None,
                fresh["poll_p50"],
                fresh["poll_p99"],
                None,
                None,
                None,
                "response cache on; polled back to back",
            )
        )
        lines.append(
            table_line(
                "freshness: rating -> pushed by bookStatsChanged",
                None,
                fresh["push_p50"],
                fresh["push_p99"],
                None,
                None,
                None,
                f"rateBook round trip p50 {fresh['write_p50']:.1f} ms",
            )
        )
    if spread:
        lines.append(
            table_line(
                f"cache under writes: {spread['books'] - spread['hot_books']} unrated books,"
                " hit rate %",
                spread["cold_reads"] / spread["seconds"],
                None,
                None,
                None,
                None,
                None,
                f"{spread['hit_rate'] * 100:.1f}% of {spread['cold_reads']:,} reads hit, while"
                f" {spread['ratings']} ratings landed on {spread['hot_books']} books"
                f" at {spread['ratings'] / spread['seconds']:.1f}/s"
                f" (paced for {spread['rate']:g}/s)",
            )
        )
        lines.append(
            table_line(
                f"cache under writes: {spread['hot_books']} rated books, rating -> visible",
                None,
                spread["fresh_p50"],
                spread["fresh_p99"],
                None,
                None,
                None,
                f"polled round robin ({spread['hot_polls']:,} reads)",
            )
        )
    lines += ["", "techniques, before -> after (medians; CPU ms/req, p50 ms, Mongo commands/req):"]
    lines += technique_lines(rows)
    lines += ["", "targets:"]
    lines += targets(rows, bursts)
    if spread:
        lines.append(
            f"  {'MET   ' if spread['hit_rate'] >= 0.95 else 'MISSED'} cache hit rate of unrated"
            f" books under writes >= 95%: {spread['hit_rate'] * 100:.1f}%"
        )
        lines.append(
            f"  {'MET   ' if spread['fresh_p50'] < 1000 else 'MISSED'} rated books' freshness"
            f" p50 < 1 s: {spread['fresh_p50']:.0f} ms (p99 {spread['fresh_p99']:.0f} ms)"
        )
    lines += ["", "checks:"] + [f"  {c}" for c in checks]
    return "\n".join(lines)


TECHNIQUE_PAIRS = [
    ("parser + validation caches", "t-nocaches", "gql30"),
    ("limit rules made once (cache hits)", "t-rulesperrequest", "gql30"),
    ("no per-field extension", "t-fieldext", "gql30"),
    ("DataLoaders that batch", "t-unbatched", "gql30"),
    ("aggregates stored on documents", "t-aggread", "gql30"),
    ("uvloop + httptools", "t-h11", "gql30"),
    ("APQ, hash only", "gql30", "apq30"),
    ("response cache (anonymous hit)", "gql30", "cache30"),
    ("compiled vs planned execution", "t-planned", "gql30"),
    ("planned vs graphql-core's execution", "t-stock", "t-planned"),
    ("compiled vs planned, 100 reviews", "t-planned100", "gql100"),
    ("planned vs graphql-core's, 100 reviews", "t-stock100", "t-planned100"),
    ("thin HTTP path vs Strawberry's view", "t-strawberryview", "gql30"),
    ("validation cache keyed by identity", "t-strawberryvalcache", "gql30"),
    ("reviewers in one repository call", "t-loaderprefetch", "gql30"),
    ("everything vs stock Strawberry", "t-plain", "gql30"),
]


def technique_lines(rows: dict[str, Row]) -> list[str]:
    out = []
    for name, before_key, after_key in TECHNIQUE_PAIRS:
        before, after = rows.get(before_key), rows.get(after_key)
        if not (before and after and before.samples and after.samples):
            continue
        b, a = before.median("cpu_ms"), after.median("cpu_ms")
        out.append(
            f"  {name:<40} CPU {b:7.3f} -> {a:7.3f} ({(a / b - 1) * 100:+5.0f}%)"
            f"  p50 {before.median('p50_ms'):7.1f} -> {after.median('p50_ms'):7.1f}"
            f"  cmds {before.median('commands'):5.2f} -> {after.median('commands'):5.2f}"
        )
    return out


def foreign_line(rows: dict[str, Row]) -> str:
    shares = [s.foreign_cpu for r in rows.values() for s in r.samples]
    if not shares:
        return "other processes on the machine: not measured"
    return (
        "CPU used by processes not started by this run, during the windows: median"
        f" {statistics.median(shares) * 100:.0f}%, max {max(shares) * 100:.0f}% of the machine"
        " (a shared machine blurs latency more than CPU per request)"
    )


def targets(rows: dict[str, Row], bursts: list[worker_bench.BurstResult]) -> list[str]:
    out = []

    def cpu(key: str) -> float | None:
        row = rows.get(key)
        return row.median("cpu_ms") if row and row.samples else None

    def verdict(ok: bool) -> str:
        return "MET   " if ok else "MISSED"

    for first in (10, 30, 100):
        for suffix, who in (("", "anonymous"), ("v", "viewer")):
            g, f = cpu(f"gql{first}{suffix}"), cpu(f"floor{first}{suffix}")
            if g and f:
                out.append(
                    f"  {verdict(g / f <= 1.5)} book page CPU <= 1.5x floor ({first}, {who}):"
                    f" {g:.3f} / {f:.3f} ms = {g / f:.2f}x"
                )
            n = cpu(f"node{first}{suffix}")
            if g and n:
                out.append(
                    f"  {verdict(g < n)} book page CPU < Node peer ({first}, {who}):"
                    f" {g:.3f} / {n:.3f} ms = {g / n:.2f}x"
                    + (f" (Node peer = {n / f:.2f}x floor)" if f else "")
                )
    g, f = cpu("cache30"), cpu("floor30")
    if g and f:
        out.append(
            f"  {'info  '} anonymous with a response-cache hit: {g:.3f} ms = {g / f:.2f}x floor"
        )
    counts = {
        k: rows[k].median("commands")
        for k in ("gql10", "gql30", "gql100")
        if k in rows and rows[k].samples
    }
    if counts:
        ok = all(round(v, 2) <= 4 for v in counts.values())
        shown = ", ".join(f"{k[3:]}/page {v:.2f}" for k, v in counts.items())
        out.append(f"  {verdict(ok)} <= 4 MongoDB commands per book page (anonymous): {shown}")
    hot = next((b for b in bursts if b.label == "hot"), None)
    if hot:
        out.append(
            f"  {verdict(hot.aggregate_writes <= 5)} hot-book burst of 1,000 events"
            " <= 5 aggregate writes:"
            f" {hot.aggregate_writes} ({hot.book_writes} of the book, in {hot.batches} batches)"
        )
    small, big = cpu("grow30"), cpu("grow3000")
    if small and big:
        middle = cpu("grow300")
        out.append(
            f"  {verdict(abs(big / small - 1) <= 0.10)} CPU flat (within 10%)"
            " from 30 to 3,000 reviews:"
            f" {small:.3f} / {middle or 0:.3f} / {big:.3f} ms ({(big / small - 1) * 100:+.1f}%)"
        )
    sizes = [(n, cpu(f"gql{n}"), cpu(f"floor{n}")) for n in (10, 30, 100)]
    shown = "; ".join(f"{n}/page {g:.3f} ms ({g / f:.2f}x floor)" for n, g, f in sizes if g and f)
    if shown:
        out.append(f"  {'info  '} page sizes: {shown}")
    return out


if __name__ == "__main__":
    sys.exit(main())
