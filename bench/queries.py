"""The GraphQL documents the benchmark sends (the floor endpoints answer the same shapes)."""

import hashlib

# The book page: the book, its authors, its figures, a page of reviews with their readers'
# figures, and the viewer's own entry (null for anonymous visitors). `totalCount` is left out:
# it costs a count command the page does not need (it shows `reviewsCount`).
BOOK_PAGE = """query BookPage($id: ID!, $first: Int!) {
  book(id: $id) {
    id title subtitle description pageCount format firstPublished coverUrl genres
    authors { id name photoUrl booksCount followersCount }
    ratingStats { average count histogram { stars count percent } }
    shelfCounts { wantToRead currentlyReading read }
    reviewsCount
    reviews(first: $first) {
      edges {
        cursor
        node {
          id rating text spoiler createdAt likesCount commentsCount
          user { id displayName avatarUrl reviewsCount followersCount authoredBooksCount }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
    viewerReview { id rating shelf }
  }
}"""

RATE_BOOK = """mutation RateBook($b: ID!, $s: Int!) {
  rateBook(bookId: $b, stars: $s) { id rating }
}"""

LIKE_REVIEW = """mutation LikeReview($r: ID!) {
  likeReview(reviewId: $r) { id likesCount }
}"""


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()
