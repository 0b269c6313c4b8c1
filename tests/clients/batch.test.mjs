// Apollo's BatchHttpLink: its default batch of 10 operations is served in one request; a batch
// above MAX_BATCH_OPERATIONS is refused as a whole with a JSON GraphQL error carrying a code.

import assert from "node:assert/strict";
import { test } from "node:test";

import { gql } from "@apollo/client";

import { BOOK_ID, apolloClient } from "./lib.mjs";

const APOLLO_DEFAULT_BATCH_MAX = 10;

const FIRST_REVIEWS = gql`
  query FirstReviews($id: ID!, $first: Int!) {
    book(id: $id) {
      id
      reviews(first: $first) {
        edges {
          node {
            id
          }
        }
      }
    }
  }
`;

// `operations` distinct queries at once (distinct variables: Apollo deduplicates equal ones).
function queries(client, operations) {
  return Array.from({ length: operations }, (_, i) =>
    client.query({
      query: FIRST_REVIEWS,
      variables: { id: BOOK_ID, first: i + 1 },
      fetchPolicy: "no-cache",
    }),
  );
}

test("Apollo's default batch of 10 operations is served in one request", async () => {
  const { client, exchanges } = apolloClient({ batch: true, persisted: false });
  const results = await Promise.all(queries(client, APOLLO_DEFAULT_BATCH_MAX));

  assert.equal(exchanges.length, 1, "one HTTP request for the whole batch");
  const [exchange] = exchanges;
  assert.equal(exchange.request.length, APOLLO_DEFAULT_BATCH_MAX);
  assert.equal(exchange.status, 200);
  assert.equal(exchange.body.length, APOLLO_DEFAULT_BATCH_MAX);
  results.forEach((result, i) => {
    assert.equal(result.error, undefined);
    assert.equal(result.data.book.id, BOOK_ID);
    assert.equal(result.data.book.reviews.edges.length, i + 1);
  });
  client.stop();
});

test("a batch of 11 is refused with a JSON GraphQL error and a code", async () => {
  const operations = APOLLO_DEFAULT_BATCH_MAX + 1;
  const { client, exchanges } = apolloClient({
    batch: true,
    batchMax: operations,
    persisted: false,
  });
  const outcomes = await Promise.allSettled(queries(client, operations));

  assert.equal(exchanges.length, 1);
  const [exchange] = exchanges;
  assert.equal(exchange.request.length, operations);
  assert.equal(exchange.status, 400);
  assert.match(exchange.contentType, /^application\/(graphql-response\+)?json\b/);
  assert.equal(exchange.body.data, undefined);
  assert.equal(exchange.body.errors.length, 1, JSON.stringify(exchange.body));
  const [error] = exchange.body.errors;
  assert.equal(error.extensions.code, "BAD_USER_INPUT");
  assert.match(error.message, /\b11\b.*\b10\b/, "the message names the size and the limit");

  // Every operation of the refused batch fails in the app: none gets data.
  assert.deepEqual(
    outcomes.map((outcome) => outcome.status === "rejected" || outcome.value.error !== undefined),
    Array(operations).fill(true),
  );
  client.stop();
});
