"""The `books` command: the composition root's entry point. Each command imports what it needs
when it runs (so `books worker status` does not load the schema), from the layers below."""

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import orjson

from service import logs
from service.settings import Settings, get_settings

log = logging.getLogger("bookservice.cli")
Handler = Callable[[argparse.Namespace, Settings], int]
# Bulk loads and full recomputations run far longer than one API command may.
BATCH_TIMEOUT_MS = 600_000
# Exit codes of every command: 0 done; 1 only for a finding (`reconcile --check`: drift);
# 2 a failure (a server unreachable, a bad setting or argument, a crash): one line on stderr,
# no traceback (it is logged at DEBUG), so that a script can tell "drift" from "broken".
EXIT_DRIFT = 1
EXIT_FAILURE = 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it


def _batch_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"mongodb_timeout_ms": max(settings.mongodb_timeout_ms, BATCH_TIMEOUT_MS)}
    )


def dev(args: argparse.Namespace, settings: Settings) -> int:
    from devtools.dev import run_dev

    return run_dev(settings, cli=[sys.executable, "-m", "app.cli"])


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from app.serve import serve

    return serve(settings)


async def _seed(settings: Settings, scale: float) -> int:
    from devtools.demo.loader import demo_loaded, load_demo
    from service.services import open_services
    from workers.reconcile import reconcile

    async with open_services(settings) as services:
        if await demo_loaded(services.store):
            print("demo data already loaded")
            return 0
        summary = await load_demo(services.store, scale)
        print(f"demo data loaded: {summary}")
        drifts = await reconcile(services.store, fix=True)
        await services.pipeline.advance_epoch()  # figures rewritten outside the worker
        print(f"aggregates computed ({len(drifts)} figures set)")
    return 0


def seed(args: argparse.Namespace, settings: Settings) -> int:
    scale = args.scale if args.scale is not None else settings.demo_scale
    if not 0 < scale <= 1:
        print("--scale must be in (0, 1]", file=sys.stderr)
        return EXIT_FAILURE
    return asyncio.run(_seed(_batch_settings(settings), scale))


async def _reconcile(settings: Settings, check: bool) -> int:
    from service.services import open_services
    from workers.reconcile import reconcile

    async with open_services(settings) as services:
        drifts = await reconcile(services.store, fix=not check)
        if drifts and not check:
            await services.pipeline.advance_epoch()
    for drift in drifts:
        print(drift)
    print(f"{len(drifts)} drifted figures {'found' if check else 'fixed'}")
    return EXIT_DRIFT if check and drifts else 0


def reconcile(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_reconcile(_batch_settings(settings), args.check))


async def _worker_status(settings: Settings) -> int:
    from service.publisher import outbox_size
    from service.services import open_services

    async with open_services(settings, create_indexes=False) as services:
        status = await services.pipeline.status(await outbox_size(services.store))
    print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
    return 0


async def _load_manifest(path: Path, settings: Settings) -> int:
    from redis.exceptions import RedisError

    from service.persisted_queries import ManifestError, PersistedQueries, register_manifest
    from service.services import MissingSetting, redis_client

    try:
        redis = redis_client(settings)
    except MissingSetting as error:
        print(f"books persisted-queries: {error}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        count = await register_manifest(PersistedQueries.from_settings(redis, settings), path)
    except (ManifestError, OSError, RedisError) as error:
        print(f"books persisted-queries: {error}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        await redis.aclose()
    print(f"registered {count} documents from {path}")
    return 0


def persisted_queries(args: argparse.Namespace, settings: Settings) -> int:
    """`books persisted-queries load FILE`: the documents every API process then accepts by
    hash, also with PERSISTED_QUERIES_ONLY=true (the API registers its own SPA's manifest)."""
    return asyncio.run(_load_manifest(args.file, settings))


def worker(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "status":
        return asyncio.run(_worker_status(settings))
    from workers.runner import run

    return asyncio.run(run(settings, args.name))


def events(args: argparse.Namespace, settings: Settings) -> int:
    from app import events_cli

    if args.action == "groups":
        return events_cli.groups(settings)
    return events_cli.tail(settings, args.type)


COMMANDS: dict[str, tuple[Handler, str]] = {
    "dev": (dev, "run API, worker and embedded MongoDB + Redis"),
    "serve": (serve, "serve the API with uvicorn (MONGODB_URL, REDIS_URL)"),
    "seed": (seed, "load the seed-page demo data once, then reconcile"),
    "reconcile": (reconcile, "recompute every aggregate; report drift"),
    "worker": (worker, "consume the event stream (or `worker status`)"),
    "events": (events, "print events as they arrive (`tail`), or the consumer groups (`groups`)"),
    "persisted-queries": (
        persisted_queries,
        "`load FILE`: register a trusted-documents manifest (REDIS_URL)",
    ),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="books", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text)
        if name == "seed":
            command.add_argument(
                "--scale", type=float, default=None, help="share of the page's figures (1 = all)"
            )
        elif name == "reconcile":
            command.add_argument(
                "--check",
                action="store_true",
                help=f"only report: exit {EXIT_DRIFT} on drift, {EXIT_FAILURE} on failure",
            )
        elif name == "persisted-queries":
            command.add_argument("action", choices=["load"])
            command.add_argument(
                "file",
                type=Path,
                help="persisted-documents.json ({sha256: document}) or an Apollo persisted-query"
                " list",
            )
        elif name == "worker":
            command.add_argument("action", nargs="?", choices=["run", "status"], default="run")
            command.add_argument("--name", default=None, help="consumer name (default: host-pid)")
        elif name == "events":
            command.add_argument("action", choices=["tail", "groups"])
            command.add_argument(
                "--type",
                action="append",
                help="tail: only events of this type (repeatable), e.g. rating.set",
            )
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # a usage error exits 2 (argparse)
    try:
        settings = get_settings()
        logs.configure(settings.log_level, settings.json_logs)
        return COMMANDS[args.command][0](args, settings)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:  # a failure must not read as a finding (exit 1)
        log.debug("books %s failed", args.command, exc_info=error)
        print(f"books {args.command}: failed: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
