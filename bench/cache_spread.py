"""The response cache under writes: anonymous readers spread over 100 books while a steady
stream of ratings lands on 10 of them (bench.run's "cache under writes" rows).

- Cold readers (a few concurrent loops) read the book page of the 90 books nobody rates, in a
  random order, after one warm-up read each; the share of their responses served from the
  cache (`x-cache: hit`) is the hit rate (per-book epochs: a rating of a hot book must not
  evict them).
- A hot poller reads the 10 rated books' pages round robin, back to back, and records the
  ratings count each shows; rating i of a hot book (by response order, each by a new reader,
  so its count only grows) is fresh once a read of that book shows its count. Freshness =
  that read's response time minus the rating's response time (bench.freshness's measure).
"""

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.freshness import percentile

RATE = "mutation RateBook($b: ID!, $s: Int!) { rateBook(bookId: $b, stars: $s) { id } }"
PAGE = """query BookPage($id: ID!, $first: Int!) {
  book(id: $id) {
    id title reviewsCount
    ratingStats { average count histogram { stars count percent } }
    shelfCounts { wantToRead currentlyReading read }
    reviews(first: $first) { edges { cursor node { id rating text user { id displayName } } } }
  }
}"""
COLD_READERS = 4


@dataclass
class Seen:
    cold_reads: int = 0
    cold_hits: int = 0
    accepted: dict[str, list[float]] = field(default_factory=dict)  # book -> response times
    polls: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # book -> (t, count)


async def _page(http: httpx.AsyncClient, url: str, book: str) -> tuple[int, bool]:
    response = await http.post(
        f"{url}/graphql",
        json={"query": PAGE, "variables": {"id": book, "first": 10}, "operationName": "BookPage"},
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"book page failed: {response.status_code} {body}")
    count = int(body["data"]["book"]["ratingStats"]["count"])
    return count, response.headers.get("x-cache") == "hit"


async def _cold_reader(
    http: httpx.AsyncClient, url: str, books: list[str], stop: asyncio.Event, seen: Seen
) -> None:
    chooser = random.Random(len(books))
    while not stop.is_set():
        _, hit = await _page(http, url, chooser.choice(books))
        seen.cold_reads += 1
        seen.cold_hits += hit


async def _hot_poller(
    http: httpx.AsyncClient, url: str, books: list[str], stop: asyncio.Event, seen: Seen
) -> None:
    while not stop.is_set():
        for book in books:
            count, _ = await _page(http, url, book)
            seen.polls[book].append((time.monotonic(), count))


async def _writer(
    http: httpx.AsyncClient,
    url: str,
    books: list[str],
    tokens: list[str],
    rate: float,
    seen: Seen,
) -> None:
    begin = time.monotonic()
    for i, token in enumerate(tokens):
        await asyncio.sleep(max(0.0, begin + i / rate - time.monotonic()))
        book = books[i % len(books)]
        response = await http.post(
            f"{url}/graphql",
            json={"query": RATE, "variables": {"b": book, "s": 1 + i % 5}},
            headers={"authorization": f"Bearer {token}"},
        )
        if response.status_code != 200 or response.json().get("errors"):
            raise RuntimeError(f"rateBook failed: {response.status_code} {response.text[:300]}")
        seen.accepted[book].append(time.monotonic())


def _freshness(seen: Seen, start_counts: dict[str, int]) -> list[float]:
    delays = []
    for book, accepted in seen.accepted.items():
        polls = seen.polls[book]
        for i, at in enumerate(accepted, start=1):
            shown = next((t for t, count in polls if count >= start_counts[book] + i), None)
            if shown is None:
                raise RuntimeError(f"rating {i} of {book} was never seen (last: {polls[-2:]})")
            delays.append(max(0.0, shown - at))
    return delays


async def measure(
    url: str,
    cold: list[str],
    hot: list[str],
    tokens: list[str],
    rate: float,
) -> dict[str, Any]:
    """Run the readers and the writer (len(tokens) ratings at `rate` per second)."""
    seen = Seen(accepted={b: [] for b in hot}, polls={b: [] for b in hot})
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=COLD_READERS + 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        for book in cold:  # warm-up: every cold page cached once
            await _page(http, url, book)
        start_counts = {book: (await _page(http, url, book))[0] for book in hot}
        readers = [
            asyncio.create_task(_cold_reader(http, url, cold, stop, seen))
            for _ in range(COLD_READERS)
        ]
        poller = asyncio.create_task(_hot_poller(http, url, hot, stop, seen))
        began = time.monotonic()
        await _writer(http, url, hot, tokens, rate, seen)
        seconds = time.monotonic() - began
        cold_reads, cold_hits = seen.cold_reads, seen.cold_hits  # while ratings landed
        expected = {b: start_counts[b] + len(seen.accepted[b]) for b in hot}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            seen.polls[b] and seen.polls[b][-1][1] >= expected[b] for b in hot
        ):
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(poller, *readers)
    fresh = [d * 1000 for d in _freshness(seen, start_counts)]
    return {
        "books": len(cold) + len(hot),
        "hot_books": len(hot),
        "ratings": len(tokens),
        "rate": rate,
        "seconds": seconds,
        "cold_reads": cold_reads,
        "cold_hits": cold_hits,
        "hit_rate": cold_hits / cold_reads if cold_reads else 0.0,
        "hot_polls": sum(len(p) for p in seen.polls.values()),
        "fresh_p50": percentile(fresh, 50),
        "fresh_p99": percentile(fresh, 99),
    }
