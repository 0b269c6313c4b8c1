"""Command handlers of `books seed`, `books reconcile` and `books worker`."""

import argparse
import asyncio
import sys

from service.demo.loader import demo_loaded, load_demo
from service.response_cache import epoch_key
from service.services import Services, open_services
from service.settings import Settings
from workers.reconcile import reconcile

# Bulk loads and full recomputations run far longer than one API command may.
BATCH_TIMEOUT_MS = 600_000


def _batch_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"mongodb_timeout_ms": max(settings.mongodb_timeout_ms, BATCH_TIMEOUT_MS)}
    )


async def _figures_changed(services: Services) -> None:
    """Figures were rewritten outside the worker: cached responses holding old ones are stale."""
    await services.redis.incr(epoch_key(services.settings.redis_prefix))


async def _seed(settings: Settings, scale: float) -> int:
    async with open_services(settings) as services:
        if await demo_loaded(services.store):
            print("demo data already loaded")
            return 0
        summary = await load_demo(services.store, scale)
        print(f"demo data loaded: {summary}")
        drifts = await reconcile(services.store, fix=True)
        await _figures_changed(services)
        print(f"aggregates computed ({len(drifts)} figures set)")
    return 0


def seed_command(args: argparse.Namespace, settings: Settings) -> int:
    scale = args.scale if args.scale is not None else settings.demo_scale
    if not 0 < scale <= 1:
        print("--scale must be in (0, 1]", file=sys.stderr)
        return 2
    return asyncio.run(_seed(_batch_settings(settings), scale))


async def _reconcile(settings: Settings, check: bool) -> int:
    async with open_services(settings) as services:
        drifts = await reconcile(services.store, fix=not check)
        if drifts and not check:
            await _figures_changed(services)
    for drift in drifts:
        print(drift)
    verb = "found" if check else "fixed"
    print(f"{len(drifts)} drifted figures {verb}")
    return 1 if check and drifts else 0


def reconcile_command(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_reconcile(_batch_settings(settings), args.check))


def worker_command(args: argparse.Namespace, settings: Settings) -> int:
    from workers import runner

    if args.action == "status":
        return asyncio.run(runner.print_status(settings))
    return asyncio.run(runner.run(settings, args.name))
