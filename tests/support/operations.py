"""The GraphQL documents the suite shares: every mutation of the contract (selecting the
review's own fields, no figures: those are tests/support/figures.py's) and the book page."""

from typing import Any

from bson import ObjectId

from tests.support.app import GraphQLClient
from tests.support.documents import gid

SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { token } }"
REVIEW_FIELDS = (
    "id shelf rating text spoiler createdAt updatedAt viewerHasLiked book { id } user { id }"
)
RATE = f"mutation($b: ID!, $s: Int!) {{ rateBook(bookId: $b, stars: $s) {{ {REVIEW_FIELDS} }} }}"
CLEAR = f"mutation($b: ID!) {{ clearRating(bookId: $b) {{ {REVIEW_FIELDS} }} }}"
SHELF = f"mutation($b: ID!, $s: Shelf) {{ setShelf(bookId: $b, shelf: $s) {{ {REVIEW_FIELDS} }} }}"
WRITE = f"mutation($i: WriteReviewInput!) {{ writeReview(input: $i) {{ {REVIEW_FIELDS} }} }}"
DELETE_REVIEW = "mutation($id: ID!) { deleteReview(id: $id) }"
LIKE = f"mutation($r: ID!) {{ likeReview(reviewId: $r) {{ {REVIEW_FIELDS} }} }}"
UNLIKE = f"mutation($r: ID!) {{ unlikeReview(reviewId: $r) {{ {REVIEW_FIELDS} }} }}"
COMMENT = (
    "mutation($r: ID!, $t: String!) { addComment(reviewId: $r, text: $t)"
    " { id text createdAt review { id } user { id } } }"
)
DELETE_COMMENT = "mutation($id: ID!) { deleteComment(id: $id) }"
FOLLOW_USER = "mutation($u: ID!) { followUser(userId: $u) { id username viewerIsFollowing } }"
UNFOLLOW_USER = "mutation($u: ID!) { unfollowUser(userId: $u) { id username viewerIsFollowing } }"
FOLLOW_AUTHOR = "mutation($a: ID!) { followAuthor(authorId: $a) { id name viewerIsFollowing } }"
UNFOLLOW_AUTHOR = "mutation($a: ID!) { unfollowAuthor(authorId: $a) { id name viewerIsFollowing } }"
VIEWER_REVIEW = f"query($b: ID!) {{ book(id: $b) {{ viewerReview {{ {REVIEW_FIELDS} }} }} }}"

# What the book page asks for: the book, its authors, the figures, a page of 30 reviews with
# their users, and the viewer's own entry, likes and follows.
BOOK_PAGE_QUERY = """
query BookPage($id: ID!) {
  book(id: $id) {
    id title subtitle description pageCount format firstPublished coverUrl
    authors { id name bio photoUrl booksCount followersCount viewerIsFollowing }
    ratingStats { average count histogram { stars count percent } updatedAt }
    shelfCounts { wantToRead currentlyReading read }
    reviewsCount
    reviews(first: 30) {
      edges {
        cursor
        node {
          id rating shelf text spoiler createdAt likesCount commentsCount viewerHasLiked
          user {
            id username displayName avatarUrl reviewsCount followersCount
            authoredBooksCount viewerIsFollowing
          }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
    viewerReview { id rating shelf text }
  }
}
"""


async def write_review(
    gql: GraphQLClient, token: str, book: ObjectId, text: str, **extra: Any
) -> dict[str, Any]:
    data = await gql.data(WRITE, {"i": {"bookId": gid("Book", book), "text": text, **extra}}, token)
    return data["writeReview"]  # type: ignore[no-any-return]


async def rate(client: GraphQLClient, token: str, book: str, stars: int) -> str:
    """Rate the book (a global id); the entry's id."""
    data = await client.data(RATE, {"b": book, "s": stars}, token)
    return str(data["rateBook"]["id"])
