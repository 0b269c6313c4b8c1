"""The `books` command. It is the composition root of the project: commands that need the
schema or the worker are named by import string ("module:function", as uvicorn names apps),
so that service/ never imports schema/ or workers/ as a library."""

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

from service import logs
from service.settings import Settings, get_settings

Handler = Callable[[argparse.Namespace, Settings], int]

COMMANDS: dict[str, tuple[str, str]] = {
    "dev": ("service.embedded:dev_command", "run API, worker and embedded MongoDB + Redis"),
    "serve": ("schema.asgi:serve_command", "serve the API with uvicorn (MONGODB_URL, REDIS_URL)"),
    "seed": ("workers.cli:seed_command", "load the seed-page demo data once, then reconcile"),
    "reconcile": ("workers.cli:reconcile_command", "recompute every aggregate; report drift"),
    "worker": ("workers.cli:worker_command", "consume the event stream (or `worker status`)"),
    "persisted-queries": (
        "service.cli:persisted_queries_command",
        "`load FILE`: register a trusted-documents manifest (REDIS_URL)",
    ),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="books", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help=COMMANDS["dev"][1])
    commands.add_parser("serve", help=COMMANDS["serve"][1])
    seed = commands.add_parser("seed", help=COMMANDS["seed"][1])
    seed.add_argument(
        "--scale", type=float, default=None, help="share of the page's figures (1 = all)"
    )
    reconcile = commands.add_parser("reconcile", help=COMMANDS["reconcile"][1])
    reconcile.add_argument("--check", action="store_true", help="only report; exit 1 on drift")
    worker = commands.add_parser("worker", help=COMMANDS["worker"][1])
    worker.add_argument("action", nargs="?", choices=["run", "status"], default="run")
    worker.add_argument("--name", default=None, help="consumer name (default: host-pid)")
    persisted = commands.add_parser("persisted-queries", help=COMMANDS["persisted-queries"][1])
    persisted.add_argument("action", choices=["load"])
    persisted.add_argument(
        "file",
        type=Path,
        help="persisted-documents.json ({sha256: document}) or an Apollo persisted-query list",
    )
    return root


async def _load_manifest(path: Path, settings: Settings) -> int:
    # Imported when the command runs, as the other commands' modules are (resolve()).
    from redis.exceptions import RedisError

    from service.persisted_queries import ManifestError, PersistedQueries, register_manifest
    from service.services import MissingSetting, redis_client

    try:
        redis = redis_client(settings)
    except MissingSetting as error:
        print(f"books persisted-queries: {error}", file=sys.stderr)
        return 2
    try:
        count = await register_manifest(PersistedQueries.from_settings(redis, settings), path)
    except (ManifestError, OSError, RedisError) as error:
        print(f"books persisted-queries: {error}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()
    print(f"registered {count} documents from {path}")
    return 0


def persisted_queries_command(args: argparse.Namespace, settings: Settings) -> int:
    """`books persisted-queries load FILE`: the documents every API process then accepts by
    hash, also with PERSISTED_QUERIES_ONLY=true (the API registers its own SPA's manifest)."""
    return asyncio.run(_load_manifest(args.file, settings))


def resolve(target: str) -> Handler:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    logs.configure(settings.log_level, settings.json_logs)
    return resolve(COMMANDS[args.command][0])(args, settings)


if __name__ == "__main__":
    sys.exit(main())
