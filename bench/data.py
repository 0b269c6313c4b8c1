"""The benchmark's data, inserted directly into MongoDB (insert_many), then reconciled.

Two databases ("worlds") on the same embedded mongoeco server:

- main: the book of the seed page with `MAIN_REVIEWS` text reviews (review texts cycled from
  the seed page, 1.3 kB on average) by as many readers, likes, comments and follows, the
  viewer's own rated entry, plus `SPREAD_BOOKS` small books for the worker's spread burst.
  The headline rows, the technique rows and the mutations run here.
- grow: three books with 30, 300 and 3,000 text reviews, for "CPU per page flat as a book's
  reviews grow". Every page the benchmark reads (the 100 newest reviews of each book) is by
  one of `GROW_REVIEWERS` readers who exist; the older reviews of the big books name readers
  who have no user document.

Why the data is shaped around mongoeco (the embedded server; it decides how long seeding and
each query take, never the API's CPU): its memory engine answers `{_id: {$in: ids}}` by
scanning the collection and comparing every document with every id (30 ids among 3,000
users: 0.8 s), checks a compound unique index on insert by scanning the collection (3,000
reviews: 4 minutes), and builds one on existing data the same way. So the users collection
holds only readers a measured page shows, and the grow world is served without secondary
indexes (mongoeco's memory engine uses none of the service's compound indexes for reads:
every find scans the collection either way). The API sends exactly the commands it sends to
MongoDB; `bench.run` checks that pages are keyset-paginated (no skip) on indexed keys.
"""

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from devtools.demo.seed_page import read_seed_page
from service import auth
from service.documents import new_entry
from service.mongo import Store, ensure_indexes, make_client
from service.settings import Settings
from workers.reconcile import reconcile

MAIN_REVIEWS = 110  # > 100, so that a page of 100 has a next page
SPREAD_BOOKS = 100
GROW_SIZES = (30, 300, 3000)
GROW_REVIEWERS = 100  # the newest 100 reviews of each grow book are by readers who exist
CHUNK = 500
T0 = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass
class World:
    """What a database holds that the benchmark needs to address (ids as ObjectIds)."""

    db: str
    books: dict[str, ObjectId]  # label -> id: "main", or "r30", "r300", "r3000"
    viewer: ObjectId
    reviews: list[ObjectId] = field(default_factory=list)  # text reviews of the main book
    spread_books: list[ObjectId] = field(default_factory=list)


def _ms(moment: datetime) -> datetime:
    """MongoDB keeps milliseconds; seeding at that precision keeps cursors exact."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _authors() -> list[dict[str, Any]]:
    page = read_seed_page()
    return [
        {
            "_id": ObjectId(),
            "name": page.author.name,
            "bio": page.author.bio,
            "photo_url": "https://example.org/authors/harriet-lerner.jpg",
            "books_count": 0,
            "followers_count": 0,
        },
        {
            "_id": ObjectId(),
            "name": "A Co-author",
            "bio": "Writes with Harriet.",
            "photo_url": None,
            "books_count": 0,
            "followers_count": 0,
        },
    ]


def _book(title: str, author_ids: list[ObjectId]) -> dict[str, Any]:
    seed = read_seed_page().book
    return {
        "_id": ObjectId(),
        "title": title,
        "subtitle": seed.subtitle,
        "description": seed.description,
        "page_count": seed.page_count,
        "format": seed.format,
        "isbn13": "9780060916466",
        "first_published": seed.first_published.isoformat(),
        "cover_url": "https://example.org/covers/dance-of-intimacy.jpg",
        "genres": ["Psychology", "Self Help", "Nonfiction", "Relationships"],
        "author_ids": author_ids,
        "rating_stats": {"counts": [0, 0, 0, 0, 0], "count": 0, "sum": 0, "updated_at": None},
        "shelf_counts": {"want_to_read": 0, "currently_reading": 0, "read": 0},
        "reviews_count": 0,
    }


def _user(i: int, prefix: str) -> dict[str, Any]:
    name = f"{prefix}{i:05d}"
    return {
        "_id": ObjectId(),
        "username": name,
        "username_key": name.lower(),
        "display_name": f"Reader {i}",
        "password_hash": None,
        "avatar_url": f"https://example.org/avatars/{i}.png" if i % 3 else None,
        "bio": "Reads on the train." if i % 2 else None,
        "authored_books_count": 1 if i % 17 == 0 else 0,
        "created_at": _ms(T0),
        "reviews_count": 0,
        "followers_count": 0,
        "following_count": 0,
    }


def _entry(
    user_id: ObjectId, book_id: ObjectId, created: datetime, text: str | None, rating: int | None
) -> dict[str, Any]:
    return dict(new_entry(user_id, book_id, _ms(created), rating=rating, text=text))


def _texts() -> list[str]:
    return [review.text for review in read_seed_page().reviews]


async def _insert(store: Store, collection: str, docs: list[dict[str, Any]]) -> None:
    for start in range(0, len(docs), CHUNK):
        await store.db[collection].insert_many(docs[start : start + CHUNK], ordered=False)


def _client(url: str) -> Any:
    # mongoeco is slow to insert; a generous timeout for seeding only.
    return make_client(url, Settings(mongodb_timeout_ms=600_000))


async def seed_main(url: str, db: str) -> World:
    client = _client(url)
    try:
        store = Store(client[db])
        await ensure_indexes(store)  # on empty collections: instant
        rng = random.Random(4)
        authors = _authors()
        author_ids = [a["_id"] for a in authors]
        book = _book("The Dance of Intimacy", author_ids)
        spread: list[dict[str, Any]] = [
            {"_id": ObjectId(), "title": f"Spread {i}", "genres": [], "author_ids": author_ids[:1]}
            for i in range(SPREAD_BOOKS)
        ]
        users = [_user(i, "reader") for i in range(MAIN_REVIEWS)]
        viewer = _user(99999, "viewer")
        texts = _texts()
        reviews = [
            _entry(
                u["_id"],
                book["_id"],
                T0 + timedelta(days=i, seconds=rng.randint(0, 86_000)),
                texts[i % len(texts)],
                None if i % 7 == 0 else 1 + (i * 3) % 5,
            )
            for i, u in enumerate(users)
        ]
        for i, review in enumerate(reviews):
            review["spoiler"] = i % 13 == 0
        own = _entry(viewer["_id"], book["_id"], T0, None, 4)
        likers = [ObjectId() for _ in range(6)]  # readers who only like (no user document)
        likes = [
            {"_id": ObjectId(), "user_id": likers[k], "review_id": r["_id"], "created_at": _ms(T0)}
            for i, r in enumerate(reviews)
            for k in range((i * 7) % 6)
        ]
        comments = [
            {
                "_id": ObjectId(),
                "review_id": r["_id"],
                "user_id": users[(i + 1 + k) % len(users)]["_id"],
                "text": "Thank you, this helped.",
                "created_at": _ms(T0 + timedelta(days=i, hours=k + 1)),
            }
            for i, r in enumerate(reviews)
            if i % 4 == 0
            for k in range(2)
        ]
        follows = [
            {
                "_id": ObjectId(),
                "follower_id": users[i]["_id"],
                "target_kind": "user",
                "target_id": users[(i * 5 + 1) % len(users)]["_id"],
                "created_at": _ms(T0),
            }
            for i in range(0, len(users), 2)
        ] + [
            {
                "_id": ObjectId(),
                "follower_id": viewer["_id"],
                "target_kind": "author",
                "target_id": author_ids[0],
                "created_at": _ms(T0),
            }
        ]
        await _insert(store, "authors", authors)
        await _insert(store, "books", [book, *spread])
        await _insert(store, "users", [*users, viewer])
        await _insert(store, "reviews", [*reviews, own])
        await _insert(store, "likes", likes)
        await _insert(store, "comments", comments)
        await _insert(store, "follows", follows)
        await reconcile(store, fix=True)
        return World(
            db=db,
            books={"main": book["_id"]},
            viewer=viewer["_id"],
            reviews=[r["_id"] for r in reviews],
            spread_books=[b["_id"] for b in spread],
        )
    finally:
        await client.close()


async def seed_grow(url: str, db: str, sizes: tuple[int, ...] = GROW_SIZES) -> World:
    client = _client(url)
    try:
        store = Store(client[db])
        authors = _authors()
        author_ids = [a["_id"] for a in authors]
        books = {f"r{n}": _book(f"Grows to {n}", author_ids) for n in sizes}
        users = [_user(i, "grower") for i in range(GROW_REVIEWERS)]
        viewer = _user(99999, "viewer")
        texts = _texts()
        end = T0 + timedelta(days=3650)
        reviews = []
        for n in sizes:
            book_id = books[f"r{n}"]["_id"]
            for j in range(n):
                # j = 0 is the newest; the newest GROW_REVIEWERS are by readers who exist.
                author = users[j]["_id"] if j < GROW_REVIEWERS else ObjectId()
                rating = None if j % 7 == 0 else 1 + (j * 3) % 5
                reviews.append(
                    _entry(author, book_id, end - timedelta(hours=j), texts[j % len(texts)], rating)
                )
            reviews.append(_entry(viewer["_id"], book_id, T0, None, 4))
        await _insert(store, "authors", authors)
        await _insert(store, "books", list(books.values()))
        await _insert(store, "users", [*users, viewer])
        await _insert(store, "reviews", reviews)
        await reconcile(store, fix=True)
        return World(db=db, books={k: b["_id"] for k, b in books.items()}, viewer=viewer["_id"])
    finally:
        await client.close()


def token_for(user_id: ObjectId, secret: str) -> str:
    return auth.issue_token(user_id, secret, 24 * 3600)


def seed_all(url: str, main_db: str, grow_db: str) -> tuple[World, World]:
    async def both() -> tuple[World, World]:
        main = await seed_main(url, main_db)
        grow = await seed_grow(url, grow_db)
        return main, grow

    return asyncio.run(both())
