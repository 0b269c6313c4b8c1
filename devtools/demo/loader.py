"""Loads the demo data set, derived from the seed page, into a store.

What is loaded: the page's author and book, one user and one review entry per review block of
the page, and synthetic readers whose ratings and shelf entries reproduce the page's figures
times `scale` (the histogram keeps the page's percentages exactly). Aggregate fields are left
empty: the reconciler recomputes them from the source documents, so the loader cannot drift
from the service's own rules.

Each collection is written with one ordered insert_many (the embedded MongoDB checks unique
indexes by scanning, so round trips and collection sizes dominate the load time). The
`meta` marker is written last: its absence after a crash means a partial load, which the
next `load_demo` removes before loading again (see `_clear_partial_load`).
"""

import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from devtools.demo.seed_page import (
    DEFAULT_SEED_PATH,
    STAR_LEVELS,
    SeedPage,
    SeedReview,
    read_seed_page,
    scaled_count,
    scaled_rating_counts,
)
from service.batches import in_batches
from service.documents import (
    AuthorDoc,
    BookDoc,
    ReviewDoc,
    Shelf,
    UserDoc,
    empty_rating_stats,
    empty_shelf_counts,
    new_entry,
)
from service.mongo import Store
from service.validation import USERNAME_RULE, name_key

DEMO_META_ID = "demo"
USERNAME_MIN_LENGTH = 3
USERNAME_MAX_LENGTH = 30
USERNAME_FILLER = "_"
SYNTHETIC_USERNAME = "reader{:05d}"
SYNTHETIC_USERNAME_PATTERN = r"^reader[0-9]{5,}(_[0-9]+)?$"
SYNTHETIC_DISPLAY_NAME = "Reader {}"
# Three review blocks of the page lost their "Profile Image for NAME." line.
UNNAMED_USERNAME = "reviewer_{:02d}"
UNNAMED_DISPLAY_NAME = "Reviewer {}"
SYNTHETIC_RANDOM_SEED = 42
SYNTHETIC_DATES_FROM = datetime(2010, 1, 1, tzinfo=UTC)
SYNTHETIC_DATES_UNTIL = datetime(2026, 1, 1, tzinfo=UTC)  # exclusive: dates fall in 2010-2025
TEXT_REVIEW_SHELF = Shelf.READ  # a written review implies the book was read
RATED_SHELF = Shelf.READ  # so does a rating


class DemoAlreadyLoadedError(RuntimeError):
    """load_demo was called on a store whose demo marker exists; check demo_loaded first."""


@dataclass(frozen=True)
class DemoDocuments:
    """Everything one load inserts, built without touching the database."""

    author: AuthorDoc
    book: BookDoc
    users: list[UserDoc]
    reviews: list[ReviewDoc]
    ratings: tuple[int, int, int, int, int]  # entries per star, 1 star first, seed included
    currently_reading: int  # entries on that shelf, seed included
    want_to_read: int


@dataclass(frozen=True)
class DemoSummary:
    book_id: ObjectId
    author_id: ObjectId
    scale: float
    inserted: dict[str, int]  # documents inserted per collection name
    ratings: tuple[int, int, int, int, int]  # what the reconciled histogram should show
    currently_reading: int
    want_to_read: int
    cleared_partial_load: bool  # a crashed earlier load was removed first


async def demo_loaded(store: Store) -> bool:
    """True once a load completed: the marker is written after every demo document."""
    return await store.meta.find_one({"_id": DEMO_META_ID}) is not None


async def load_demo(store: Store, scale: float, seed_path: Path | None = None) -> DemoSummary:
    """Insert the demo data set at `scale` (0 loads only the page's own reviews).

    Callers check `demo_loaded` first; loading twice raises DemoAlreadyLoadedError rather than
    duplicating the population. Leftovers of a crashed load are deleted before loading.
    """
    if await demo_loaded(store):
        raise DemoAlreadyLoadedError("the demo data set is already loaded")
    page = read_seed_page(seed_path or DEFAULT_SEED_PATH)
    cleared = await _clear_partial_load(store, page)
    docs = build_demo_documents(page, scale)
    await store.authors.insert_many([docs.author], ordered=True)
    await store.books.insert_many([docs.book], ordered=True)
    await store.users.insert_many(docs.users, ordered=True)
    await store.reviews.insert_many(docs.reviews, ordered=True)
    await store.meta.insert_one(
        {"_id": DEMO_META_ID, "scale": scale, "loaded_at": datetime.now(UTC)}
    )
    return DemoSummary(
        book_id=docs.book["_id"],
        author_id=docs.author["_id"],
        scale=scale,
        inserted={
            store.authors.name: 1,
            store.books.name: 1,
            store.users.name: len(docs.users),
            store.reviews.name: len(docs.reviews),
            store.meta.name: 1,
        },
        ratings=docs.ratings,
        currently_reading=docs.currently_reading,
        want_to_read=docs.want_to_read,
        cleared_partial_load=cleared,
    )


def build_demo_documents(page: SeedPage, scale: float) -> DemoDocuments:
    """The documents of one load; only the ObjectIds differ between calls."""
    if scale < 0:
        raise ValueError(f"scale must not be negative, got {scale}")
    author_id, book_id = ObjectId(), ObjectId()
    author: AuthorDoc = {
        "_id": author_id,
        "name": page.author.name,
        "bio": page.author.bio,
        "photo_url": None,
        "books_count": 0,
        "followers_count": 0,
    }
    book: BookDoc = {
        "_id": book_id,
        "title": page.book.title,
        "subtitle": page.book.subtitle,
        "description": page.book.description,
        "page_count": page.book.page_count,
        "format": page.book.format,
        "isbn13": None,
        "first_published": page.book.first_published.isoformat(),
        "cover_url": None,
        "genres": [],  # the page names none
        "author_ids": [author_id],
        "rating_stats": empty_rating_stats(),
        "shelf_counts": empty_shelf_counts(),
        "reviews_count": 0,
    }
    taken: set[str] = set()
    users: list[UserDoc] = []
    reviews: list[ReviewDoc] = []
    for seed in page.reviews:
        created = datetime.combine(seed.reviewed_on, time(), tzinfo=UTC)
        user = _user(_seed_username(seed, taken), _seed_display_name(seed), created)
        user["authored_books_count"] = seed.authored_books_count or 0
        users.append(user)
        reviews.append(
            new_entry(
                user["_id"],
                book_id,
                created,
                shelf=_seed_shelf(seed),
                rating=seed.rating,
                text=seed.text,
            )
        )

    seed_ratings = [0] * STAR_LEVELS
    for seed in page.reviews:
        if seed.rating is not None:
            seed_ratings[seed.rating - 1] += 1
    seed_currently_reading = sum(1 for s in page.reviews if s.shelf == "CURRENTLY_READING")
    seed_want_to_read = sum(1 for s in page.reviews if s.shelf == "WANT_TO_READ")
    if scale > 0:
        ratings = scaled_rating_counts(page.histogram, scale, at_least=seed_ratings)
    else:
        one, two, three, four, five = seed_ratings
        ratings = (one, two, three, four, five)
    currently_reading = max(scaled_count(page.currently_reading, scale), seed_currently_reading)
    want_to_read = max(scaled_count(page.want_to_read, scale), seed_want_to_read)

    # (shelf, rating) of every synthetic entry; each gets its own user, so (user, book) stays
    # unique and a reader never holds a rating and another shelf for the same book.
    synthetic: list[tuple[Shelf, int | None]] = []
    for stars in range(STAR_LEVELS, 0, -1):
        synthetic += [(RATED_SHELF, stars)] * (ratings[stars - 1] - seed_ratings[stars - 1])
    synthetic += [(Shelf.CURRENTLY_READING, None)] * (currently_reading - seed_currently_reading)
    synthetic += [(Shelf.WANT_TO_READ, None)] * (want_to_read - seed_want_to_read)
    rng = random.Random(SYNTHETIC_RANDOM_SEED)
    span_seconds = int((SYNTHETIC_DATES_UNTIL - SYNTHETIC_DATES_FROM).total_seconds())
    for number, (shelf, rating) in enumerate(synthetic, start=1):
        created = SYNTHETIC_DATES_FROM + timedelta(seconds=rng.randrange(span_seconds))
        username = _allocate(SYNTHETIC_USERNAME.format(number), taken)
        user = _user(username, SYNTHETIC_DISPLAY_NAME.format(number), created)
        users.append(user)
        reviews.append(new_entry(user["_id"], book_id, created, shelf=shelf, rating=rating))

    return DemoDocuments(
        author=author,
        book=book,
        users=users,
        reviews=reviews,
        ratings=ratings,
        currently_reading=currently_reading,
        want_to_read=want_to_read,
    )


def username_for(name: str) -> str:
    """A valid username from a display name: accents dropped, lower case, other characters
    than [a-z0-9_.-] replaced by '_', padded to 3 and cut to 30 characters."""
    decomposed = unicodedata.normalize("NFKD", name)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    username = re.sub(r"[^a-z0-9_.-]", USERNAME_FILLER, folded)[:USERNAME_MAX_LENGTH]
    return username.ljust(USERNAME_MIN_LENGTH, USERNAME_FILLER)


def seed_usernames(page: SeedPage) -> list[str]:
    """The usernames a load gives the page's reviewers, in page order."""
    taken: set[str] = set()
    return [_seed_username(seed, taken) for seed in page.reviews]


def _seed_username(seed: SeedReview, taken: set[str]) -> str:
    if seed.name is None:
        return _allocate(UNNAMED_USERNAME.format(seed.position), taken)
    return _allocate(username_for(seed.name), taken)


def _seed_display_name(seed: SeedReview) -> str:
    return seed.name if seed.name is not None else UNNAMED_DISPLAY_NAME.format(seed.position)


def _seed_shelf(seed: SeedReview) -> Shelf | None:
    if seed.shelf is not None:
        return seed.shelf
    return TEXT_REVIEW_SHELF if seed.text or seed.rating is not None else None


def _allocate(base: str, taken: set[str]) -> str:
    """`base`, or `base` with a numeric suffix when another user already has that key."""
    candidate, number = base, 1
    while candidate.lower() in taken:
        number += 1
        suffix = f"_{number}"
        candidate = base[: USERNAME_MAX_LENGTH - len(suffix)] + suffix
    if not USERNAME_RULE.match(candidate):
        raise ValueError(f"derived username {candidate!r} breaks the username rule")
    taken.add(candidate.lower())
    return candidate


def _user(username: str, display_name: str, created: datetime) -> UserDoc:
    return {
        "_id": ObjectId(),
        "username": username,
        "username_key": username.lower(),
        "display_name": display_name,
        "display_key": name_key(display_name),
        "password_hash": None,  # demo users cannot log in
        "avatar_url": None,
        "bio": None,
        "authored_books_count": 0,
        "created_at": created,
        "reviews_count": 0,
        "followers_count": 0,
        "following_count": 0,
    }


async def _clear_partial_load(store: Store, page: SeedPage) -> bool:
    """Delete what a crashed load may have inserted; True when something was deleted.

    Demo documents are recognised by their natural keys, which nothing else produces: the
    page's book (title and subtitle), its author by name when no other book cites it, users
    without a password (only the loader creates those) carrying a demo username, and every
    review of those books or users. Likes, comments and follows are never written by a load.
    """
    book_filter: dict[str, Any] = {"title": page.book.title, "subtitle": page.book.subtitle}
    book_ids = [doc["_id"] async for doc in store.books.find(book_filter, {"_id": 1})]
    user_filter: dict[str, Any] = {
        "password_hash": None,
        "$or": [
            {"username_key": {"$in": [name.lower() for name in seed_usernames(page)]}},
            {"username_key": {"$regex": SYNTHETIC_USERNAME_PATTERN}},
        ],
    }
    user_ids = [doc["_id"] async for doc in store.users.find(user_filter, {"_id": 1})]
    deleted = await _delete_in(store.reviews, "book_id", book_ids)
    deleted += await _delete_in(store.reviews, "user_id", user_ids)
    deleted += await _delete_in(store.users, "_id", user_ids)
    deleted += await _delete_in(store.books, "_id", book_ids)
    orphans = [
        doc["_id"]
        async for doc in store.authors.find({"name": page.author.name}, {"_id": 1})
        if await store.books.find_one({"author_ids": doc["_id"]}, {"_id": 1}) is None
    ]
    deleted += await _delete_in(store.authors, "_id", orphans)
    return deleted > 0


async def _delete_in(collection: AsyncCollection, field: str, ids: list[ObjectId]) -> int:
    """Delete the documents whose `field` is one of `ids` (service.batches: IN_BATCH at a time)."""

    async def run(batch: list[ObjectId]) -> list[int]:
        return [(await collection.delete_many({field: {"$in": batch}})).deleted_count]

    return sum(await in_batches(ids, run))
