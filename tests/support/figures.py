"""Aggregate figures as the API shows them (read through GraphQL), and the figures a node must
show, written out from what the test did (never from the service's own computation)."""

from typing import Any

from tests.support.app import GraphQLClient

FIGURES = """
fragment F on Node {
  id
  ... on Book {
    reviewsCount
    ratingStats { count average histogram { stars count } }
    shelfCounts { wantToRead currentlyReading read }
  }
  ... on Review { likesCount commentsCount }
  ... on User { reviewsCount followersCount followingCount }
  ... on Author { followersCount booksCount }
}
"""


ALIASES_PER_QUERY = 10  # the API refuses more than MAX_ALIASES (15) in one document


async def figures(client: GraphQLClient, ids: list[str]) -> dict[str, Any]:
    """The aggregate figures of the nodes `ids`, read through GraphQL."""
    found: dict[str, Any] = {}
    for start in range(0, len(ids), ALIASES_PER_QUERY):
        part = ids[start : start + ALIASES_PER_QUERY]
        fields = " ".join(f'n{i}: node(id: "{n}") {{ ...F }}' for i, n in enumerate(part))
        data = await client.data(f"query {{ {fields} }}" + FIGURES)
        found.update({node_id: data[f"n{i}"] for i, node_id in enumerate(part)})
    return found


def book_figures(
    node_id: str, stars: dict[int, int], shelves: tuple[int, int, int], reviews: int
) -> dict[str, Any]:
    """What a book shows for ratings `stars` ({stars: count}), (want, reading, read) shelves."""
    count = sum(stars.values())
    total = sum(s * n for s, n in stars.items())
    return {
        "id": node_id,
        "reviewsCount": reviews,
        "ratingStats": {
            "count": count,
            "average": total / count if count else 0.0,
            "histogram": [{"stars": s, "count": stars.get(s, 0)} for s in (5, 4, 3, 2, 1)],
        },
        "shelfCounts": {
            "wantToRead": shelves[0],
            "currentlyReading": shelves[1],
            "read": shelves[2],
        },
    }


def review_figures(node_id: str, likes: int, comments: int) -> dict[str, Any]:
    return {"id": node_id, "likesCount": likes, "commentsCount": comments}


def user_figures(node_id: str, reviews: int, followers: int, following: int) -> dict[str, Any]:
    return {
        "id": node_id,
        "reviewsCount": reviews,
        "followersCount": followers,
        "followingCount": following,
    }


def author_figures(node_id: str, followers: int, books: int) -> dict[str, Any]:
    return {"id": node_id, "followersCount": followers, "booksCount": books}
