// The book page as an Apollo single-page app renders it: the first page of reviews, then
// "show more" (fetchMore) until the last page, merged by relayStylePagination in the cache.

import assert from "node:assert/strict";
import { test } from "node:test";

import { gql } from "@apollo/client";

import { BOOK_ID, RATING_FIGURES, apolloClient, post } from "./lib.mjs";

const PAGE_SIZE = 10;

const BOOK_PAGE = gql`
  query BookPage($id: ID!, $first: Int!, $after: String) {
    book(id: $id) {
      id
      title
      reviewsCount
      ratingStats {
        ...RatingFigures
      }
      shelfCounts {
        wantToRead
        currentlyReading
        read
      }
      reviews(first: $first, after: $after) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          cursor
          node {
            id
            rating
            likesCount
            user {
              id
              displayName
            }
          }
        }
      }
    }
  }
  ${RATING_FIGURES}
`;

// Every review of the book in one request, outside Apollo: what the pages must add up to.
async function allReviewIds() {
  const data = await post(
    "query($id: ID!) { book(id: $id) { reviews(first: 100) { totalCount edges { node { id } } } } }",
    { id: BOOK_ID },
  );
  return data.book.reviews.edges.map((edge) => edge.node.id);
}

// The next result of an ObservableQuery that is no longer loading.
function settled(observable) {
  return new Promise((resolve, reject) => {
    const subscription = observable.subscribe({
      next: (result) => {
        if (!result.loading) {
          queueMicrotask(() => subscription.unsubscribe());
          resolve(result);
        }
      },
      error: reject,
    });
  });
}

test("fetchMore walks every review page into one cached list, without duplicates", async () => {
  const expected = await allReviewIds();
  assert.ok(expected.length > 2 * PAGE_SIZE, `the demo has ${expected.length} reviews`);

  const { client, exchanges } = apolloClient({ persisted: false });
  const variables = { id: BOOK_ID, first: PAGE_SIZE };
  const observable = client.watchQuery({ query: BOOK_PAGE, variables });
  const first = await settled(observable);
  assert.equal(first.error, undefined);
  const book = first.data.book;
  assert.equal(book.id, BOOK_ID);
  assert.equal(book.title, "The Dance of Intimacy");
  assert.equal(book.reviews.totalCount, expected.length);
  assert.equal(book.reviewsCount, expected.length);
  assert.equal(book.reviews.edges.length, PAGE_SIZE);

  const sizes = [book.reviews.edges.length];
  let pageInfo = book.reviews.pageInfo;
  while (pageInfo.hasNextPage) {
    const more = await observable.fetchMore({ variables: { after: pageInfo.endCursor } });
    pageInfo = more.data.book.reviews.pageInfo;
    const cached = client.readQuery({ query: BOOK_PAGE, variables });
    sizes.push(cached.book.reviews.edges.length);
  }

  // One request per page, each with the previous page's end cursor.
  const pages = Math.ceil(expected.length / PAGE_SIZE);
  assert.equal(exchanges.length, pages);
  assert.deepEqual(
    sizes,
    Array.from({ length: pages }, (_, i) => Math.min((i + 1) * PAGE_SIZE, expected.length)),
  );
  const cached = client.readQuery({ query: BOOK_PAGE, variables });
  const ids = cached.book.reviews.edges.map((edge) => edge.node.id);
  assert.deepEqual(ids, expected, "the merged list is every review once, in the API's order");
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(cached.book.reviews.totalCount, expected.length);
  assert.equal(cached.book.reviews.pageInfo.hasNextPage, false);
  // Normalized: each review is one cache entry, reachable by its id.
  for (const edge of cached.book.reviews.edges) {
    const review = client.cache.readFragment({
      id: client.cache.identify(edge.node),
      fragment: gql`
        fragment ReviewId on Review {
          id
          likesCount
        }
      `,
    });
    assert.equal(review.id, edge.node.id);
    assert.equal(review.likesCount, edge.node.likesCount);
  }
  client.stop();
});
