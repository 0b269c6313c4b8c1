"""An example consumer of the book service's event stream, written as another team would:
redis-py only, nothing imported from the service. It keeps a running count of ratings per
book and star in Redis, exact under at-least-once delivery, duplicates and crashes.

    python examples/rating_counter.py --redis-url redis://localhost:6379/0 \\
        --stream events --group rating-counter --consumer counter-1

(Every option can also come from the environment: REDIS_URL, STREAM, GROUP, CONSUMER, ...)

What it keeps, under --prefix (default: the group's name):
  <prefix>:stars:<bookId>  hash: star ("1".."5") -> readers whose rating of the book it is
  <prefix>:seen:<eventId>  the events already counted (expire after --dedupe-seconds)
  <prefix>:unsure          set: books whose count may be off, because of an event that may not
                           have happened (`recovered`) or that has no previous rating (legacy):
                           re-read their figures from the API (ratingStats.histogram)
  <prefix>:stats           hash: events (counted), duplicates, unsure, skipped (other types),
                           malformed

How it stays exact:
- Its own consumer group: it gets every event whatever other groups do, and the service never
  trims an event this group has not acknowledged.
- A rating change is a delta: -1 at `previous.stars`, +1 at the new stars. Deltas add up the
  same in any order, so events may arrive late or out of order.
- Each event's deltas, its id in the seen keys and its XACK are one MULTI/EXEC (watching the
  seen key): killed before EXEC, the event stays pending and uncounted; after it, counted and
  acknowledged. An event appended twice (same `id`, another stream entry) is counted once.
- On start it first handles what this consumer name held (its pending entries), and every
  --claim-idle-ms / 2 it XAUTOCLAIMs what a crashed consumer of the group left pending.
"""

import argparse
import json
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

import redis

log = logging.getLogger("rating_counter")
RATING_TYPES = {"rating.set", "rating.cleared", "review.written", "review.deleted"}
Entry = tuple[str, dict[str, str]]


def star_deltas(kind: str, data: dict[str, Any]) -> dict[int, int] | None:
    """How an event changes its book's count per star; None when that cannot be known."""
    if "previous" not in data:  # not known (a recovered event)
        return None
    before = (data["previous"] or {}).get("stars")
    if kind == "rating.set":
        after = data["stars"]
    elif kind == "review.written":
        after = data.get("stars", before)  # a review without stars leaves the rating
    else:  # rating.cleared, review.deleted
        after = None
    deltas: dict[int, int] = {}
    if before:
        deltas[before] = deltas.get(before, 0) - 1
    if after:
        deltas[after] = deltas.get(after, 0) + 1
    return {stars: change for stars, change in deltas.items() if change}


class RatingCounter:
    def __init__(self, client: redis.Redis, args: argparse.Namespace) -> None:
        self.redis = client
        self.stream = args.stream
        self.group = args.group
        self.consumer = args.consumer
        self.prefix = args.prefix or args.group
        self.args = args
        self.stopping = threading.Event()

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(self.stream, self.group, id=self.args.start, mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def run(self) -> None:
        self.ensure_group()
        log.info("consuming %s as %s/%s", self.stream, self.group, self.consumer)
        while not self.stopping.is_set():  # what this consumer held when it last stopped
            held = self.read("0")
            if not held:
                break
            self.handle(held)
        last_claim = 0.0
        while not self.stopping.is_set():
            if time.monotonic() - last_claim >= self.args.claim_idle_ms / 2000:
                last_claim = time.monotonic()
                self.handle(self.claim_idle())
            self.handle(self.read(">"))
        log.info("stopped")

    def read(self, start: str) -> list[Entry]:
        reply = self.redis.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: start},
            count=self.args.batch,
            block=None if start == "0" else self.args.block_ms,
        )
        return [(i, f) for i, f in reply[0][1]] if reply else []

    def claim_idle(self) -> list[Entry]:
        claimed: list[Entry] = []
        cursor = "0-0"
        while True:
            cursor, entries, *_ = self.redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                self.args.claim_idle_ms,
                cursor,
                count=self.args.batch,
            )
            claimed += entries
            if cursor == "0-0":
                return claimed

    def handle(self, entries: list[Entry]) -> None:
        for entry_id, fields in entries:
            if self.stopping.wait(self.args.delay_ms / 1000):
                return  # the rest stays pending: this consumer (or another) handles it later
            self.apply(entry_id, fields or {})

    def effect(self, fields: dict[str, str]) -> tuple[str, str, dict[int, int] | None]:
        """(stats counter, book id, deltas) of one event; deltas None: unsure."""
        kind = fields.get("type", "")
        if kind not in RATING_TYPES:
            return "skipped", "", {}
        if "specversion" not in fields:  # a legacy entry: ids only
            return "unsure", fields.get("book_id", ""), None
        try:
            data = json.loads(fields["data"])
            deltas = star_deltas(kind, data)
        except (KeyError, TypeError, ValueError) as error:  # not the contract: never retried
            log.error("skipping malformed event %s: %r", fields.get("id"), error)
            return "malformed", "", {}
        if fields.get("recovered") == "true" or fields.get("dataversion") != "1":
            deltas = None  # the change may not have happened, or is not one we know
        return ("events" if deltas is not None else "unsure"), data["bookId"], deltas

    def apply(self, entry_id: str, fields: dict[str, str]) -> None:
        counter, book, deltas = self.effect(fields)
        seen = self.key("seen", fields.get("id") or entry_id)

        def transaction(pipe: Any) -> None:
            duplicate = pipe.exists(seen)
            pipe.multi()
            if duplicate:
                pipe.hincrby(self.key("stats"), "duplicates", 1)
            else:
                pipe.set(seen, 1, ex=self.args.dedupe_seconds)
                pipe.hincrby(self.key("stats"), counter, 1)
                if deltas is None:
                    pipe.sadd(self.key("unsure"), book)
                for stars, change in (deltas or {}).items():
                    pipe.hincrby(self.key("stars", book), str(stars), change)
            pipe.xack(self.stream, self.group, entry_id)

        self.redis.transaction(transaction, seen)


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--redis-url", default=env("REDIS_URL", "redis://localhost:6379/0"))
    p.add_argument("--stream", default=env("STREAM", "events"))
    p.add_argument("--group", default=env("GROUP", "rating-counter"))
    p.add_argument("--consumer", default=env("CONSUMER", f"{socket.gethostname()}-{os.getpid()}"))
    p.add_argument("--prefix", default=env("PREFIX", ""), help="key prefix (default: the group)")
    p.add_argument(
        "--start", default=env("START", "$"), help="where a new group starts: $ (now) or 0"
    )
    p.add_argument("--batch", type=int, default=int(env("BATCH", "100")))
    p.add_argument("--block-ms", type=int, default=int(env("BLOCK_MS", "1000")))
    p.add_argument("--claim-idle-ms", type=int, default=int(env("CLAIM_IDLE_MS", "30000")))
    p.add_argument("--dedupe-seconds", type=int, default=int(env("DEDUPE_SECONDS", "604800")))
    p.add_argument(
        "--delay-ms",
        type=int,
        default=int(env("DELAY_MS", "0")),
        help="wait this long before each event (to watch a slow group's lag)",
    )
    return p


def main() -> int:
    args = parser().parse_args()
    logging.basicConfig(level="INFO", format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Named connections: `CLIENT LIST` shows which consumer is which.
    client = redis.Redis.from_url(args.redis_url, decode_responses=True, client_name=args.consumer)
    counter = RatingCounter(client, args)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: counter.stopping.set())
    counter.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
