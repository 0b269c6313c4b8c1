"""The floor: hand-written Starlette endpoints, no GraphQL, that send the same MongoDB commands
as the GraphQL operations (through the same repository functions) and return byte for byte
the same JSON, encoded with orjson. They accept the same POST bodies as /graphql (only
`variables` is read) and the same bearer tokens.

- POST /bench/floor/book: `bench.queries.BOOK_PAGE` (book, authors, one page of reviews, their
  users: 4 finds; a viewer adds the find of their own entry).
- POST /bench/floor/rate: `RATE_BOOK`;  POST /bench/floor/like: `LIKE_REVIEW`.
"""

from typing import Any

import orjson
from bson import ObjectId
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from service import validation
from service.auth import bearer_token, read_token
from service.errors import ServiceError, Unauthenticated
from service.ids import from_global_id, to_global_id
from service.mongo import Document
from service.repositories import entries, social
from service.repositories.common import docs_by_ids
from service.services import Services


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _viewer(request: Request, services: Services) -> ObjectId | None:
    token = bearer_token(request.headers.get("authorization"))
    return read_token(token, services.jwt_secret) if token else None


def _rating_stats(stats: Document | None) -> dict[str, Any]:
    stats = stats or {}
    counts = list(stats.get("counts") or [0, 0, 0, 0, 0])
    total = int(stats.get("count", 0))
    return {
        "average": (stats.get("sum", 0) / total) if total else 0.0,
        "count": total,
        "histogram": [
            {
                "stars": s,
                "count": counts[s - 1],
                "percent": counts[s - 1] * 100 // total if total else 0,
            }
            for s in (5, 4, 3, 2, 1)
        ],
    }


def _review_node(doc: Document, user: Document) -> dict[str, Any]:
    return {
        "id": to_global_id("Review", doc["_id"]),
        "rating": doc.get("rating"),
        "text": doc.get("text"),
        "spoiler": bool(doc.get("spoiler")),
        "createdAt": doc["created_at"].isoformat(),
        "likesCount": doc.get("likes_count", 0),
        "commentsCount": doc.get("comments_count", 0),
        "user": {
            "id": to_global_id("User", user["_id"]),
            "displayName": user.get("display_name") or user["username"],
            "avatarUrl": user.get("avatar_url"),
            "reviewsCount": user.get("reviews_count", 0),
            "followersCount": user.get("followers_count", 0),
            "authoredBooksCount": user.get("authored_books_count", 0),
        },
    }


async def book_page(request: Request) -> Response:
    services: Services = request.app.state.services
    store = services.store
    try:
        variables = orjson.loads(await request.body()).get("variables") or {}
        viewer = _viewer(request, services)
        book_id = from_global_id(str(variables.get("id")), "Book", "id")
        first = validation.page_size(variables.get("first"), default=30)
    except (ServiceError, orjson.JSONDecodeError, AttributeError) as refused:
        return _json({"errors": [{"message": str(refused)}]}, 400)

    doc = (await docs_by_ids(store.books, [book_id])).get(book_id)
    if doc is None:
        return _json({"data": {"book": None}})
    author_ids = doc.get("author_ids") or []
    authors = await docs_by_ids(store.authors, author_ids)
    ordering = entries.BOOK_ORDERINGS[entries.ReviewOrder.POPULAR]
    page = await entries.book_reviews(
        store,
        book_id,
        first=first,
        after=None,
        order=entries.ReviewOrder.POPULAR,
        stars=None,
        search=None,
    )
    users = await docs_by_ids(store.users, [r["user_id"] for r in page.docs])
    own = (
        (await entries.entries_of_user_for_books(store, viewer, [book_id])).get(book_id)
        if viewer is not None
        else None
    )
    docs = page.docs
    book = {
        "id": to_global_id("Book", book_id),
        "title": doc["title"],
        "subtitle": doc.get("subtitle"),
        "description": doc.get("description"),
        "pageCount": doc.get("page_count"),
        "format": doc.get("format"),
        "firstPublished": doc.get("first_published"),
        "coverUrl": doc.get("cover_url"),
        "genres": doc.get("genres") or [],
        "authors": [
            {
                "id": to_global_id("Author", a["_id"]),
                "name": a["name"],
                "photoUrl": a.get("photo_url"),
                "booksCount": a.get("books_count", 0),
                "followersCount": a.get("followers_count", 0),
            }
            for a in (authors.get(i) for i in author_ids)
            if a is not None
        ],
        "ratingStats": _rating_stats(doc.get("rating_stats")),
        "shelfCounts": {
            "wantToRead": (doc.get("shelf_counts") or {}).get("want_to_read", 0),
            "currentlyReading": (doc.get("shelf_counts") or {}).get("currently_reading", 0),
            "read": (doc.get("shelf_counts") or {}).get("read", 0),
        },
        "reviewsCount": doc.get("reviews_count", 0),
        "reviews": {
            "edges": [
                {"cursor": ordering.cursor_of(r), "node": _review_node(r, users[r["user_id"]])}
                for r in docs
            ],
            "pageInfo": {
                "hasNextPage": page.has_next,
                "endCursor": ordering.cursor_of(docs[-1]) if docs else None,
            },
        },
        "viewerReview": (
            {
                "id": to_global_id("Review", own["_id"]),
                "rating": own.get("rating"),
                "shelf": own.get("shelf"),
            }
            if own is not None
            else None
        ),
    }
    return _json({"data": {"book": book}})


async def _mutation_input(request: Request) -> tuple[Services, ObjectId, dict[str, Any]]:
    """(services, viewer, variables) of a floor mutation; Unauthenticated without a token."""
    services: Services = request.app.state.services
    variables = orjson.loads(await request.body()).get("variables") or {}
    viewer = _viewer(request, services)
    if viewer is None:
        raise Unauthenticated("needs a viewer")
    return services, viewer, variables


def _refused(error: ServiceError) -> Response:
    status = 401 if isinstance(error, Unauthenticated) else 400
    return _json({"errors": [{"message": str(error)}]}, status)


async def rate_book(request: Request) -> Response:
    try:
        services, viewer, variables = await _mutation_input(request)
        book_id = from_global_id(str(variables.get("b")), "Book", "bookId")
        stars = validation.stars(int(variables.get("s") or 0))
        doc = await entries.rate_book(services.store, services.publisher, viewer, book_id, stars)
    except ServiceError as refused:
        return _refused(refused)
    review = {"id": to_global_id("Review", doc["_id"]), "rating": doc.get("rating")}
    return _json({"data": {"rateBook": review}})


async def like_review(request: Request) -> Response:
    try:
        services, viewer, variables = await _mutation_input(request)
        review_id = from_global_id(str(variables.get("r")), "Review", "reviewId")
        doc = await social.like(services.store, services.publisher, viewer, review_id)
    except ServiceError as refused:
        return _refused(refused)
    review = {"id": to_global_id("Review", doc["_id"]), "likesCount": doc.get("likes_count", 0)}
    return _json({"data": {"likeReview": review}})


ROUTES: list[BaseRoute] = [
    Route("/bench/floor/book", book_page, methods=["POST"]),
    Route("/bench/floor/rate", rate_book, methods=["POST"]),
    Route("/bench/floor/like", like_review, methods=["POST"]),
]
