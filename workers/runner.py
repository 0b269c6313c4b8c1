"""The aggregation worker: a loop that reads batches from the consumer group, applies them,
acknowledges what it applied, and keeps the stream healthy (claims, dead letters, trimming,
outbox sweeps). Delivery is at-least-once; handlers are idempotent recomputations."""

import asyncio
import logging
import os
import signal
import socket
import time
from contextlib import suppress
from dataclasses import dataclass, field

from pymongo.errors import ConnectionFailure
from redis.exceptions import RedisError, ResponseError

from service.events import Event
from service.publisher import sweep_outbox
from service.response_cache import stale_books
from service.services import Services, open_services
from service.settings import Settings
from workers.apply import PoisonEvent, apply_events
from workers.stream import Entry, EventStream

log = logging.getLogger("bookservice.worker")
INFRA_ERRORS = (ConnectionFailure, RedisError, OSError)


@dataclass
class Counters:
    applied: int = 0
    batches: int = 0
    dead_letters: int = 0
    claimed: int = 0
    trims: int = 0
    started: float = field(default_factory=time.time)


class Worker:
    def __init__(self, services: Services, name: str | None = None) -> None:
        settings = services.settings
        self.services = services
        self.settings = settings
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.pipeline = services.pipeline
        self.stream = EventStream.of(services.redis, self.pipeline.names)
        self.counters = Counters()
        self.stopping = asyncio.Event()
        self._last_trim = self._last_sweep = self._last_claim = self._last_beat = 0.0

    def stop(self) -> None:
        self.stopping.set()

    async def _start(self) -> None:
        await self.stream.ensure_group()
        log.info(
            "worker %s consuming %s as group %s", self.name, self.stream.key, self.stream.group
        )
        # Events this consumer name held when it last stopped come first.
        await self._handle_own_pending()

    async def _handle_own_pending(self) -> None:
        await self._handle(
            await self.stream.own_pending(self.name, self.settings.worker_batch_size)
        )

    async def run(self) -> None:
        started = held = False
        while not self.stopping.is_set():
            try:
                if not started:  # inside the loop: a worker started while Redis is down waits
                    await self._start()
                    started = True
                if held:  # the batch an outage interrupted, before anything newer
                    await self._handle_own_pending()
                    held = False
                await self._housekeeping()
                entries = await self.stream.read(
                    self.name, self.settings.worker_batch_size, self.settings.worker_block_ms
                )
                await self._handle(entries)
            except INFRA_ERRORS as error:
                log.warning(
                    "worker %s: backing service unavailable (%s); retrying", self.name, error
                )
                # The batch in hand stays pending under this name: re-apply it as soon as the
                # service answers (as a restart would), not after CLAIM_IDLE_MS via XAUTOCLAIM.
                held = started
                if isinstance(error, ResponseError) and str(error).startswith("NOGROUP"):
                    # Redis came back without the group (restarted without its data, or the
                    # group was deleted): recreate it, or no read would ever succeed again.
                    # What the stream holds now (e.g. re-published outbox events) is applied.
                    with suppress(*INFRA_ERRORS):
                        await self.stream.ensure_group()
                await self._pause(1.0)
        try:  # the last counters, marked stopped; they expire like any heartbeat
            await self._heartbeat(state="stopped")
        except INFRA_ERRORS as error:  # stopping during an outage is still a clean stop
            log.warning("worker %s: last counters not published (%s)", self.name, error)
        self._log_counters()
        log.info("worker %s stopped after %d events", self.name, self.counters.applied)

    async def _pause(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        settings = self.settings
        if now - self._last_claim >= settings.claim_idle_ms / 2000:
            self._last_claim = now
            claimed = await self.stream.claim_idle(
                self.name, settings.claim_idle_ms, settings.worker_batch_size
            )
            if claimed:
                self.counters.claimed += len(claimed)
                log.info("worker %s claimed %d idle events", self.name, len(claimed))
                await self._handle(claimed)
        if now - self._last_sweep >= settings.sweep_interval_seconds:
            self._last_sweep = now
            swept = await sweep_outbox(self.services.publisher, settings.outbox_grace_seconds)
            if swept:
                log.info("worker %s re-published %d outbox events", self.name, swept)
        if now - self._last_trim >= settings.trim_interval_seconds:
            self._last_trim = now
            await self.stream.trim()
            self.counters.trims += 1
            self._log_counters()
        if now - self._last_beat >= settings.worker_heartbeat_seconds:
            self._last_beat = now
            await self._heartbeat()

    async def _handle(self, entries: list[Entry]) -> None:
        """Apply a batch; on an event error, fall back to one event at a time to isolate it."""
        if not entries:
            return
        events: list[tuple[Entry, Event]] = []
        for entry in entries:
            try:
                events.append((entry, Event.from_fields(entry[1])))
            except ValueError as error:  # can never be applied: straight to the dead letters
                await self._dead_letter(entry, f"malformed event: {error}")
        if not events:
            return
        try:
            await self._apply([e for e in events])
        except INFRA_ERRORS:
            raise
        except Exception:
            for one in events:
                try:
                    await self._apply([one])
                except INFRA_ERRORS:
                    raise
                except Exception as error:
                    await self._failed(one[0], error)

    async def _apply(self, events: list[tuple[Entry, Event]]) -> None:
        applied = await apply_events(self.services.store, [event for _, event in events])
        # Cached responses computed before these writes are stale from now on (only those of
        # the books concerned, when the events change nothing else).
        await self.pipeline.advance_epoch(stale_books(event for _, event in events))
        await self.stream.ack([entry[0] for entry, _ in events])
        self.counters.applied += len(events)
        self.counters.batches += 1
        if applied.books:
            await self.pipeline.stats_changed(str(book_id) for book_id in applied.books)

    async def _failed(self, entry: Entry, error: Exception) -> None:
        attempts = await self.stream.deliveries(entry[0])
        if isinstance(error, PoisonEvent) or attempts >= self.settings.max_attempts:
            await self._dead_letter(entry, f"{type(error).__name__}: {error}")
        else:
            log.warning("event %s failed (attempt %d): %s", entry[0], attempts, error)

    async def _dead_letter(self, entry: Entry, error: str) -> None:
        await self.stream.dead_letter(entry, error)
        self.counters.dead_letters += 1
        log.error("event %s moved to %s: %s", entry[0], self.stream.dead_letters, error)

    async def _heartbeat(self, state: str = "running") -> None:
        await self.pipeline.heartbeat(
            self.name,
            {
                "state": state,
                "applied": self.counters.applied,
                "batches": self.counters.batches,
                "dead_letters": self.counters.dead_letters,
                "claimed": self.counters.claimed,
                "trims": self.counters.trims,
                "started": self.counters.started,
                "seen": time.time(),
            },
        )

    def _log_counters(self) -> None:
        log.info(
            "worker %s: applied=%d batches=%d dead_letters=%d claimed=%d",
            self.name,
            self.counters.applied,
            self.counters.batches,
            self.counters.dead_letters,
            self.counters.claimed,
        )


async def run(settings: Settings, name: str | None) -> int:
    async with open_services(settings) as services:
        worker = Worker(services, name)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()
    return 0


__all__ = ["Worker", "run"]
