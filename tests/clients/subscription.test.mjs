// bookStatsChanged from Apollo Client over graphql-ws (graphql-transport-ws), the viewer
// authenticated through connection_init as browsers must do it (a browser WebSocket cannot
// send an Authorization header): another user's rating over HTTP arrives, and the cache shows it.

import assert from "node:assert/strict";
import { test } from "node:test";

import { ApolloClient, ApolloLink, HttpLink, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { isSubscriptionOperation } from "@apollo/client/utilities";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

import {
  API_URL,
  BOOK_ID,
  RATING_FIGURES,
  WS_URL,
  bookCache,
  eventually,
  figuresOf,
  post,
  rate,
  sha256,
  signUp,
  signedToken,
  statsChannelListeners,
  subjectOf,
  withRating,
} from "./lib.mjs";

const PUSH_TIMEOUT_MS = 20000;

const BOOK_STATS = gql`
  subscription BookStats($id: ID!) {
    bookStatsChanged(bookId: $id) {
      id
      ratingStats {
        ...RatingFigures
      }
      viewerReview {
        id
        rating
      }
    }
  }
  ${RATING_FIGURES}
`;

function wsClient(connectionParams) {
  return createClient({
    url: WS_URL,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
  });
}

// The SPA's client: subscriptions over graphql-ws, everything else over HTTP with APQ.
function apolloWithSubscriptions(token) {
  const ws = wsClient({ authorization: `Bearer ${token}` });
  const http = ApolloLink.from([
    new PersistedQueryLink({ sha256 }),
    new HttpLink({ uri: API_URL, headers: { authorization: `Bearer ${token}` } }),
  ]);
  const link = ApolloLink.split(
    ({ query }) => isSubscriptionOperation(query),
    new GraphQLWsLink(ws),
    http,
  );
  return { client: new ApolloClient({ link, cache: bookCache() }), ws };
}

async function viewerFigures(token) {
  const data = await post(
    `query($id: ID!) { book(id: $id) { ratingStats { count histogram { stars count } }
       viewerReview { id rating } } }`,
    { id: BOOK_ID },
    token,
  );
  return data.book;
}

// Values of an observable, one at a time, with a deadline.
function queue(observable) {
  const values = [];
  const waiting = [];
  let failure;
  const subscription = observable.subscribe({
    next: (value) => (waiting.length ? waiting.shift().resolve(value) : values.push(value)),
    error: (error) => {
      failure = error;
      for (const waiter of waiting.splice(0)) waiter.reject(error);
    },
  });
  return {
    next(timeoutMs) {
      if (values.length) return Promise.resolve(values.shift());
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no push in time")), timeoutMs);
        waiting.push({
          resolve: (value) => (clearTimeout(timer), resolve(value)),
          reject: (error) => (clearTimeout(timer), reject(error)),
        });
      });
    },
    // Apollo delivers a subscription's failure as a value with `error`, graphql-ws as an error.
    throwIfFailed() {
      if (failure) throw failure;
      const failed = values.find((value) => value.error);
      if (failed) throw failed.error;
    },
    close: () => subscription.unsubscribe(),
  };
}

test("another user's rating is pushed to an Apollo subscriber authenticated in connection_init", async (t) => {
  // The subscriber rated the book earlier: its pushes must carry ITS viewerReview, which only a
  // viewer taken from connection_init can give (the socket's upgrade request has no token).
  const subscriber = await signUp("subscriber_");
  const initial = await viewerFigures(subscriber.token);
  await rate(subscriber.token, 3);
  const rated = await eventually(async () => {
    const book = await viewerFigures(subscriber.token);
    return book.ratingStats.count === initial.ratingStats.count + 1 && book;
  }, "the worker to count the subscriber's rating");
  assert.equal(rated.viewerReview.rating, 3);

  const { client, ws } = apolloWithSubscriptions(subscriber.token);
  const pushes = queue(client.subscribe({ query: BOOK_STATS, variables: { id: BOOK_ID } }));
  t.after(async () => {
    pushes.close();
    await ws.dispose();
    client.stop();
  });
  await eventually(async () => {
    pushes.throwIfFailed();
    return (await statsChannelListeners()) >= 1;
  }, "the API to listen for figures");

  const other = await signUp("rater_");
  await rate(other.token, 4);

  const expected = figuresOf(withRating(rated.ratingStats.histogram, 4));
  const push = await pushes.next(PUSH_TIMEOUT_MS);
  assert.equal(push.error, undefined);
  const book = push.data.bookStatsChanged;
  assert.equal(book.id, BOOK_ID);
  assert.deepEqual(
    {
      count: book.ratingStats.count,
      average: book.ratingStats.average,
      histogram: book.ratingStats.histogram.map(({ stars, count, percent }) => ({
        stars,
        count,
        percent,
      })),
    },
    expected,
  );
  assert.deepEqual(book.viewerReview, {
    __typename: "Review",
    id: rated.viewerReview.id,
    rating: 3,
  });

  // Apollo wrote the push into the normalized cache: the book page re-renders from it.
  const cached = client.cache.readFragment({
    id: client.cache.identify({ __typename: "Book", id: BOOK_ID }),
    fragment: gql`
      fragment LiveFigures on Book {
        ratingStats {
          count
          average
        }
      }
    `,
  });
  assert.equal(cached.ratingStats.count, expected.count);
  assert.equal(cached.ratingStats.average, expected.average);
});

// What a connection attempt ends with: the close event, or the subscription's first result.
function firstOutcome(client) {
  return new Promise((resolve) => {
    client.on("closed", (event) => resolve({ closed: event.code }));
    client.subscribe(
      {
        query: "subscription($id: ID!) { bookStatsChanged(bookId: $id) { id } }",
        variables: { id: BOOK_ID },
      },
      { next: (value) => resolve({ next: value }), error: () => {}, complete: () => {} },
    );
  });
}

test("an invalid token in connection_init closes the socket with 4403", async (t) => {
  const client = wsClient({ authorization: "Bearer not-a-token" });
  t.after(() => client.dispose());
  assert.deepEqual(await firstOutcome(client), { closed: 4403 });
});

test("an expired token in connection_init closes the socket with 4403", async (t) => {
  const user = await signUp("expired_");
  const expired = signedToken(subjectOf(user.token), -60);
  const client = wsClient({ authorization: `Bearer ${expired}` });
  t.after(() => client.dispose());
  assert.deepEqual(await firstOutcome(client), { closed: 4403 });
});

test("every message the server sends is a text frame", async (t) => {
  const socket = new WebSocket(WS_URL, "graphql-transport-ws");
  t.after(() => socket.terminate());
  const frames = [];
  const acknowledged = new Promise((resolve, reject) => {
    socket.on("error", reject);
    socket.on("message", (data, isBinary) => {
      frames.push({ isBinary, message: JSON.parse(data.toString()) });
      resolve();
    });
  });
  await new Promise((resolve, reject) => socket.on("open", resolve).on("error", reject));
  socket.send(JSON.stringify({ type: "connection_init", payload: {} }));
  await acknowledged;
  socket.send(JSON.stringify({ type: "ping" }));
  await eventually(() => frames.length === 2, "the pong");
  assert.deepEqual(frames, [
    { isBinary: false, message: { type: "connection_ack" } },
    { isBinary: false, message: { type: "pong" } },
  ]);
});

test("a handshake from an origin not on CORS_ORIGINS is refused with 403", async () => {
  const socket = new WebSocket(WS_URL, "graphql-transport-ws", { origin: "http://elsewhere.test" });
  const status = await new Promise((resolve, reject) => {
    socket.on("unexpected-response", (request, response) => resolve(response.statusCode));
    socket.on("open", () => reject(new Error("the handshake was accepted")));
    socket.on("error", () => {});
  });
  assert.equal(status, 403);
});
