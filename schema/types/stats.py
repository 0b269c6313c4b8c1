"""The aggregate figures of a book, read from the document the worker maintains."""

from datetime import datetime

import strawberry

from service.documents import empty_rating_stats, empty_shelf_counts
from service.mongo import Document


@strawberry.type(name="RatingBucket")
class RatingBucket:
    stars: int
    count: int
    percent: int


def percent_of(count: int, total: int) -> int:
    """Whole percent, rounded down as the seed page does (3,937 of 10,125 shows 38%)."""
    return count * 100 // total if total else 0


@strawberry.type(name="RatingStats")
class RatingStats:
    average: float
    count: int
    histogram: list[RatingBucket]
    updated_at: datetime | None

    @classmethod
    def of(cls, doc: Document | None) -> "RatingStats":
        stats = doc or empty_rating_stats()
        counts = list(stats.get("counts") or [0, 0, 0, 0, 0])
        total = int(stats.get("count", 0))
        return cls(
            average=(stats.get("sum", 0) / total) if total else 0.0,
            count=total,
            histogram=[
                RatingBucket(stars=s, count=counts[s - 1], percent=percent_of(counts[s - 1], total))
                for s in (5, 4, 3, 2, 1)
            ],
            updated_at=stats.get("updated_at"),
        )


@strawberry.type(name="ShelfCounts")
class ShelfCounts:
    want_to_read: int
    currently_reading: int
    read: int

    @classmethod
    def of(cls, doc: Document | None) -> "ShelfCounts":
        counts = doc or empty_shelf_counts()
        return cls(
            want_to_read=counts.get("want_to_read", 0),
            currently_reading=counts.get("currently_reading", 0),
            read=counts.get("read", 0),
        )
