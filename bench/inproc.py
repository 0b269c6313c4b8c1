"""A quick loop for working on the book page's CPU cost: GraphQL against the floor in one
process, without HTTP or wrk, so that a change can be judged in a minute.

It starts mongoeco and redis-server in their own processes (their CPU is not counted), seeds
the main bench database, builds the bench app (`bench.app.build`, BENCH_VARIANT / BENCH_FIXES
apply) and calls it as ASGI, alternating rows in rounds; CPU is this process's own
(`time.process_time`) per request. The figures leave out uvicorn's share of a request, which
both rows pay alike, so the ratio here is a little above the one `make bench` reports. Rows
of one run are comparable; between runs on a shared 2-CPU machine figures move by ~15 %.
With --mongodb-url/--redis-url it uses running servers and seeds the database only once.
--memo-db answers the page's repository reads from memory after their first call (both rows):
what remains is the Python above the driver.

    .venv/bin/python -m bench.inproc [--requests 200] [--rounds 5] [--first 30] [--profile F]
"""

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import data
from bench.run import SECRET, page_body
from devtools.embedded import embedded_servers
from service.ids import to_global_id

Message = dict[str, Any]


class AsgiClient:
    """Just enough of an ASGI server to call an app: lifespan, and POSTs with a JSON body."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self._lifespan_in: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan_out: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.create_task(
            self.app(scope, self._lifespan_in.get, self._lifespan_out.put)
        )
        await self._lifespan_in.put({"type": "lifespan.startup"})
        reply = await self._lifespan_out.get()
        if reply["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {reply}")

    async def stop(self) -> None:
        await self._lifespan_in.put({"type": "lifespan.shutdown"})
        await self._lifespan_out.get()
        if self._task is not None:
            await self._task

    async def post(self, path: str, body: bytes, token: str | None = None) -> tuple[int, bytes]:
        headers = [(b"content-type", b"application/json"), (b"host", b"bench")]
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


async def cpu_per_request(
    client: AsgiClient, path: str, body: bytes, token: str | None, count: int
) -> float:
    start = time.process_time()
    for _ in range(count):
        status, _ = await client.post(path, body, token)
        if status != 200:
            raise RuntimeError(f"{path}: HTTP {status}")
    return (time.process_time() - start) / count * 1000


def memoize_reads() -> None:
    """--memo-db: the repository reads of the book page answered from memory after their first
    call, for GraphQL and the floor alike, so that CPU per request is the Python above the
    driver (the four finds cost both sides the same)."""
    import schema.loaders
    import schema.types.book
    from bench import floor
    from service.repositories import common, entries, users

    memo: dict[Any, Any] = {}
    read_ids, read_page = common.docs_by_ids, entries.book_reviews
    read_own = entries.entries_of_user_for_books

    async def docs_by_ids(collection: Any, ids: Any, projection: Any = None) -> Any:
        key = ("ids", collection.name, tuple(ids), str(projection))
        if key not in memo:
            memo[key] = await read_ids(collection, ids, projection)
        return memo[key]

    async def book_reviews(store: Any, book_id: Any, **kwargs: Any) -> Any:
        key = ("page", book_id, str(sorted(kwargs.items())))
        if key not in memo:
            memo[key] = await read_page(store, book_id, **kwargs)
        return memo[key]

    async def entries_of_user_for_books(store: Any, user_id: Any, book_ids: Any) -> Any:
        key = ("own", user_id, tuple(book_ids))
        if key not in memo:
            memo[key] = await read_own(store, user_id, book_ids)
        return memo[key]

    for module in (schema.loaders, schema.types.book, floor, users):
        module.docs_by_ids = docs_by_ids  # type: ignore[attr-defined]
    entries.book_reviews = book_reviews  # type: ignore[assignment]
    entries.entries_of_user_for_books = entries_of_user_for_books  # type: ignore[assignment]


async def seeded(mongodb_url: str, db: str) -> data.World:
    """The main bench database: seeded once per server (seeding mongoeco takes a minute)."""
    from pymongo import AsyncMongoClient

    client: Any = AsyncMongoClient(mongodb_url)
    try:
        book = await client[db].books.find_one({"title": "The Dance of Intimacy"})
        viewer = await client[db].users.find_one({"username": "viewer99999"})
    finally:
        await client.close()
    if book is None or viewer is None:
        return await data.seed_main(mongodb_url, db)
    return data.World(db=db, books={"main": book["_id"]}, viewer=viewer["_id"])


async def run(options: argparse.Namespace, mongodb_url: str, redis_url: str) -> None:
    world = await seeded(mongodb_url, options.db)
    env = {
        "MONGODB_URL": mongodb_url,
        "REDIS_URL": redis_url,
        "MONGODB_DB": world.db,
        "MONGODB_TIMEOUT_MS": "60000",
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
        "JSON_LOGS": "false",
        "RATE_LIMIT_ENABLED": "false",
        "RESPONSE_CACHE": "false",
    }
    os.environ.update(env)
    if options.memo_db:
        memoize_reads()
    from bench.app import build

    client = AsgiClient(build())
    await client.start()
    book = to_global_id("Book", world.books["main"])
    body = page_body(book, options.first).encode()
    token = data.token_for(world.viewer, SECRET)
    rows = {
        "GraphQL anonymous": ("/graphql", None),
        "floor anonymous": ("/bench/floor/book", None),
        "GraphQL viewer": ("/graphql", token),
        "floor viewer": ("/bench/floor/book", token),
    }
    _, gql = await client.post("/graphql", body)
    _, floor = await client.post("/bench/floor/book", body)
    if gql != floor:
        raise RuntimeError("GraphQL and floor responses differ")
    for path, tok in rows.values():
        await cpu_per_request(client, path, body, tok, options.requests // 4)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in rows}
    profiler: Any = None
    if options.profile:
        import cProfile

        profiler = cProfile.Profile()
    for _ in range(options.rounds):
        for name, (path, tok) in rows.items():
            if profiler and name == "GraphQL anonymous":
                profiler.enable()
            samples[name].append(await cpu_per_request(client, path, body, tok, options.requests))
            if profiler and name == "GraphQL anonymous":
                profiler.disable()
    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"first={options.first}, {options.rounds} rounds x {options.requests} requests")
    for name, value in median.items():
        spread = max(samples[name]) - min(samples[name])
        print(f"  {name:<20} {value:7.3f} ms CPU/request (spread {spread:.3f})")
    for who in ("anonymous", "viewer"):
        ratio = median[f"GraphQL {who}"] / median[f"floor {who}"]
        print(f"  ratio {who:<14} {ratio:6.2f}x")
    if profiler:
        profiler.dump_stats(options.profile)
        print(f"  profile: {options.profile}")
    await client.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--first", type=int, default=30)
    parser.add_argument(
        "--memo-db", action="store_true", help="answer the page's reads from memory (see above)"
    )
    parser.add_argument("--profile", help="write a cProfile of GraphQL anonymous (pstats file)")
    parser.add_argument("--db", default="bench_main", help="database (seeded when empty)")
    parser.add_argument("--mongodb-url", help="use this server instead of starting mongoeco")
    parser.add_argument("--redis-url", help="use this server instead of starting redis-server")
    options = parser.parse_args()
    with embedded_servers(
        None, mongodb_url=options.mongodb_url, redis_url=options.redis_url
    ) as servers:
        try:
            import uvloop

            runner: Any = uvloop.run
        except ImportError:
            runner = asyncio.run
        runner(run(options, servers.mongodb_url, servers.redis_url))


if __name__ == "__main__":
    main()
