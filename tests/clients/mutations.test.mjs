// signUp, rateBook and likeReview from Apollo Client with automatic persisted queries: after
// each mutation the normalized CACHE (what the page re-renders from) shows the fresh figures,
// and every operation went through the persisted-query round trip.

import assert from "node:assert/strict";
import { before, test } from "node:test";

import { gql } from "@apollo/client";

import {
  BOOK_ID,
  PASSWORD,
  RATING_FIGURES,
  apolloClient,
  figuresOf,
  sha256,
  uniqueUsername,
  withRating,
} from "./lib.mjs";

const SIGN_UP = gql`
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) {
      token
      user {
        id
        username
        displayName
      }
    }
  }
`;

const BOOK_PAGE = gql`
  query ViewerBookPage($id: ID!) {
    book(id: $id) {
      id
      ratingStats {
        ...RatingFigures
      }
      viewerReview {
        id
        rating
        shelf
      }
      reviews(first: 5) {
        edges {
          node {
            id
            likesCount
            viewerHasLiked
          }
        }
      }
    }
  }
  ${RATING_FIGURES}
`;

const RATE_BOOK = gql`
  mutation RateBook($bookId: ID!, $stars: Int!) {
    rateBook(bookId: $bookId, stars: $stars) {
      id
      rating
      shelf
      book {
        id
        viewerReview {
          id
          rating
          shelf
        }
        ratingStats {
          ...RatingFigures
        }
      }
    }
  }
  ${RATING_FIGURES}
`;

const LIKE_REVIEW = gql`
  mutation LikeReview($id: ID!) {
    likeReview(reviewId: $id) {
      id
      likesCount
      viewerHasLiked
    }
  }
`;

const UNLIKE_REVIEW = gql`
  mutation UnlikeReview($id: ID!) {
    unlikeReview(reviewId: $id) {
      id
      likesCount
      viewerHasLiked
    }
  }
`;

// Automatic persisted queries, checked on the wire: the first request of each document sends
// only its hash and gets PersistedQueryNotFound; Apollo retries with the document (which
// registers it); later requests of that document send the hash alone and succeed.
function assertPersistedQueryRoundTrips(exchanges, expectedDocuments) {
  const seen = new Map(); // hash -> requests so far
  for (const [index, exchange] of exchanges.entries()) {
    const where = `request ${index}: ${JSON.stringify(exchange.request)} -> ${exchange.status} ${JSON.stringify(exchange.body)}`;
    const persisted = exchange.request.extensions?.persistedQuery;
    assert.equal(persisted?.version, 1, where);
    const hash = persisted.sha256Hash;
    const count = seen.get(hash) ?? 0;
    seen.set(hash, count + 1);
    if (count === 0) {
      assert.equal(exchange.request.query, undefined, `first send is the hash alone: ${where}`);
      assert.equal(exchange.body.errors?.length, 1, where);
      assert.equal(exchange.body.errors[0].message, "PersistedQueryNotFound", where);
      assert.equal(exchange.body.errors[0].extensions.code, "PERSISTED_QUERY_NOT_FOUND", where);
    } else if (count === 1) {
      assert.equal(
        typeof exchange.request.query,
        "string",
        `the retry sends the document: ${where}`,
      );
      assert.equal(sha256(exchange.request.query), hash, where);
      assert.equal(exchange.status, 200, where);
      assert.equal(exchange.body.errors, undefined, where);
    } else {
      assert.equal(exchange.request.query, undefined, `registered: hash alone: ${where}`);
      assert.equal(exchange.status, 200, where);
      assert.equal(exchange.body.errors, undefined, where);
    }
  }
  assert.equal(seen.size, expectedDocuments, "distinct documents sent");
}

let viewer; // { token, id, client, exchanges }

before(async () => {
  const anonymous = apolloClient();
  const username = uniqueUsername("apollo_");
  const { data } = await anonymous.client.mutate({
    mutation: SIGN_UP,
    variables: { input: { username, password: PASSWORD, displayName: "Apollo Reader" } },
  });
  assert.equal(data.signUp.user.username, username);
  // The new user is in the cache, normalized under its id.
  const cached = anonymous.client.cache.readFragment({
    id: anonymous.client.cache.identify(data.signUp.user),
    fragment: gql`
      fragment NewUser on User {
        id
        displayName
      }
    `,
  });
  assert.deepEqual(cached, {
    __typename: "User",
    id: data.signUp.user.id,
    displayName: "Apollo Reader",
  });
  assertPersistedQueryRoundTrips(anonymous.exchanges, 1);
  assert.equal(anonymous.exchanges.length, 2);
  anonymous.client.stop();

  viewer = {
    token: data.signUp.token,
    id: data.signUp.user.id,
    ...apolloClient({ token: data.signUp.token }),
  };
});

function readPage() {
  return viewer.client.readQuery({ query: BOOK_PAGE, variables: { id: BOOK_ID } }).book;
}

test("rateBook: the cached book shows the new rating and figures at once", async () => {
  const { data: page } = await viewer.client.query({
    query: BOOK_PAGE,
    variables: { id: BOOK_ID },
  });
  const histogram = page.book.ratingStats.histogram.map(({ stars, count }) => ({ stars, count }));
  assert.equal(page.book.viewerReview, null);

  const { data } = await viewer.client.mutate({
    mutation: RATE_BOOK,
    variables: { bookId: BOOK_ID, stars: 5 },
  });
  assert.equal(data.rateBook.rating, 5);
  const rated = figuresOf(withRating(histogram, 5));
  let cached = readPage();
  assert.deepEqual(
    {
      ...cached.ratingStats,
      histogram: cached.ratingStats.histogram.map(({ __typename, ...b }) => b),
    },
    { __typename: "RatingStats", ...rated },
  );
  assert.deepEqual(cached.viewerReview, {
    __typename: "Review",
    id: data.rateBook.id,
    rating: 5,
    shelf: "READ",
  });

  // Changing one's rating moves it between buckets: the count stays, counted once.
  await viewer.client.mutate({ mutation: RATE_BOOK, variables: { bookId: BOOK_ID, stars: 2 } });
  const rerated = figuresOf(withRating(histogram, 2));
  cached = readPage();
  assert.deepEqual(
    {
      ...cached.ratingStats,
      histogram: cached.ratingStats.histogram.map(({ __typename, ...b }) => b),
    },
    { __typename: "RatingStats", ...rerated },
  );
  assert.equal(cached.viewerReview.rating, 2);
});

test("likeReview: the cached review shows the new count and the viewer's like", async () => {
  const { data: page } = await viewer.client.query({
    query: BOOK_PAGE,
    variables: { id: BOOK_ID },
    fetchPolicy: "network-only",
  });
  const review = page.book.reviews.edges[0].node;
  assert.equal(review.viewerHasLiked, false);
  const cachedReview = () =>
    readPage().reviews.edges.find((edge) => edge.node.id === review.id).node;

  const liked = await viewer.client.mutate({ mutation: LIKE_REVIEW, variables: { id: review.id } });
  assert.equal(liked.data.likeReview.likesCount, review.likesCount + 1);
  assert.deepEqual(cachedReview(), {
    __typename: "Review",
    id: review.id,
    likesCount: review.likesCount + 1,
    viewerHasLiked: true,
  });

  // Liking twice counts once.
  await viewer.client.mutate({ mutation: LIKE_REVIEW, variables: { id: review.id } });
  assert.equal(cachedReview().likesCount, review.likesCount + 1);

  await viewer.client.mutate({ mutation: UNLIKE_REVIEW, variables: { id: review.id } });
  assert.deepEqual(cachedReview(), {
    __typename: "Review",
    id: review.id,
    likesCount: review.likesCount,
    viewerHasLiked: false,
  });
});

test("every operation went through the persisted-query round trip", () => {
  // ViewerBookPage (twice), RateBook (twice), LikeReview (twice), UnlikeReview.
  assertPersistedQueryRoundTrips(viewer.exchanges, 4);
  assert.equal(viewer.exchanges.length, 4 * 2 + 3);
  viewer.client.stop();
});
