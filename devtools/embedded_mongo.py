"""Embedded mode's MongoDB: mongoeco serving the wire protocol on loopback, in its own process.

    python -m devtools.embedded_mongo --path data/books.db --port 0
    python -m devtools.embedded_mongo --memory

mongoeco runs on the event loop of the process that starts it, so it gets a process of its own
(its CPU must not compete with the API's loop). Port 0 picks a free port; the process prints
one line `READY mongodb://127.0.0.1:PORT/?directConnection=true` once it accepts connections,
which is how `devtools.embedded` learns the port without a race. SIGTERM or SIGINT closes the
server and the engine (the SQLite file is left consistent). With `--exit-on-stdin-eof` it also
stops when its standard input closes, i.e. when the launcher that holds the other end dies,
so a killed test run or launcher leaves no server behind.
"""

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from mongoeco.engines.memory import MemoryEngine
from mongoeco.engines.sqlite import SQLiteEngine
from mongoeco.wire import AsyncMongoEcoProxyServer

HOST = "127.0.0.1"


async def _stdin_closed() -> None:
    """Return at EOF on stdin, i.e. once the launcher holding the pipe's other end is gone."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


async def serve(path: Path | None, port: int, exit_on_stdin_eof: bool = False) -> None:
    """Serve until SIGTERM/SIGINT (or stdin EOF); `path` None means the memory engine."""
    engine = MemoryEngine() if path is None else SQLiteEngine(str(path))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.create_task(_stdin_closed()) if exit_on_stdin_eof else None
    if watcher is not None:
        watcher.add_done_callback(lambda _: stop.set())
    server = AsyncMongoEcoProxyServer(engine=engine, host=HOST, port=port)
    await server.start()
    try:
        print(f"READY {server.address.uri}", flush=True)
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        try:
            await server.close()
        except Exception as error:
            _exit_now(error)


def _exit_now(error: Exception) -> None:
    """Exit at once when closing fails (seen: "database is locked" while a write is in flight).

    A client that gave up on a long insert_many leaves mongoeco's SQLite thread writing; the
    engine's disconnect then times out on the lock. Waiting does not help (the write can run
    for minutes) and a normal exit would wait for that thread; SQLite's journal keeps the file
    consistent when the process ends mid-write, so end it now, with one line instead of a
    traceback.
    """
    detail = "; ".join(str(e) for e in getattr(error, "exceptions", [error]))
    print(f"embedded_mongo: shutdown with a write in flight ({detail}); exiting", file=sys.stderr)
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.embedded_mongo", description="Serve mongoeco on 127.0.0.1."
    )
    engine = parser.add_mutually_exclusive_group(required=True)
    engine.add_argument("--path", type=Path, help="SQLite file holding the data")
    engine.add_argument("--memory", action="store_true", help="keep the data in memory only")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="also stop when standard input closes (the launcher died)",
    )
    args = parser.parse_args(argv)
    if args.path is not None:
        args.path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.path, args.port, args.exit_on_stdin_eof))
    return 0


if __name__ == "__main__":
    sys.exit(main())
