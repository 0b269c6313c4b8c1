// What the client tests share: where the API is (environment set by tests/test_clients.py),
// Apollo clients built the way a single-page app builds them, and a fetch that records every
// HTTP exchange so that tests can check what went over the wire, not only what Apollo says.

import { createHash, createHmac } from "node:crypto";
import { connect } from "node:net";

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { BatchHttpLink } from "@apollo/client/link/batch-http";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { relayStylePagination } from "@apollo/client/utilities";

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through tests/test_clients.py`);
  return value;
}

export const API_URL = required("API_URL");
export const WS_URL = required("WS_URL");
export const BOOK_ID = required("BOOK_ID");

export const PASSWORD = "correct-horse-battery";

// The book page's own cache setup: reviews paginate Relay-style (one list per sort/filter),
// and the id-less aggregate objects are merged into their book instead of replaced.
export function bookCache() {
  return new InMemoryCache({
    typePolicies: {
      Book: { fields: { reviews: relayStylePagination(["sort", "stars", "search"]) } },
      RatingStats: { merge: true },
      ShelfCounts: { merge: true },
    },
  });
}

// A fetch that keeps every exchange: the parsed request body, the status, the response
// headers and the parsed response body.
export function recordingFetch() {
  const exchanges = [];
  async function fetchAndRecord(url, init = {}) {
    const response = await fetch(url, init);
    const text = await response.clone().text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text, and the test that reads it says so
    }
    exchanges.push({
      url: String(url),
      method: init.method ?? "GET",
      request: typeof init.body === "string" ? JSON.parse(init.body) : init.body,
      status: response.status,
      contentType: response.headers.get("content-type"),
      body,
    });
    return response;
  }
  return { fetch: fetchAndRecord, exchanges };
}

export function sha256(text) {
  return createHash("sha256").update(text).digest("hex");
}

// An Apollo client as an SPA builds it: automatic persisted queries in front of HTTP,
// optionally batching, optionally with a viewer's token.
export function apolloClient({ token, batch = false, batchMax, persisted = true } = {}) {
  const recorder = recordingFetch();
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const http = batch
    ? new BatchHttpLink({ uri: API_URL, fetch: recorder.fetch, headers, batchMax })
    : new HttpLink({ uri: API_URL, fetch: recorder.fetch, headers });
  const link = persisted ? ApolloLink.from([new PersistedQueryLink({ sha256 }), http]) : http;
  const client = new ApolloClient({ link, cache: bookCache() });
  return { client, exchanges: recorder.exchanges };
}

// Plain GraphQL over HTTP, for the "other users" of a test (not the client under test).
export async function post(query, variables = {}, token = undefined) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(API_URL, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (response.status !== 200 || body.errors) {
    throw new Error(`${response.status} ${JSON.stringify(body)}`);
  }
  return body.data;
}

let users = 0;

export function uniqueUsername(prefix) {
  users += 1;
  return `${prefix}${process.pid}_${users}_${Date.now() % 100000}`;
}

export async function signUp(prefix) {
  const data = await post(
    "mutation($i: SignUpInput!) { signUp(input: $i) { token user { id } } }",
    { i: { username: uniqueUsername(prefix), password: PASSWORD } },
  );
  return { token: data.signUp.token, id: data.signUp.user.id };
}

export async function rate(token, stars) {
  await post(
    "mutation($b: ID!, $s: Int!) { rateBook(bookId: $b, stars: $s) { id rating } }",
    { b: BOOK_ID, s: stars },
    token,
  );
}

// The figures a histogram implies, the way the service computes them: the average of all
// ratings and percentages rounded down.
export function figuresOf(histogram) {
  const count = histogram.reduce((sum, bucket) => sum + bucket.count, 0);
  const total = histogram.reduce((sum, bucket) => sum + bucket.stars * bucket.count, 0);
  return {
    count,
    average: count ? total / count : 0,
    histogram: histogram.map(({ stars, count: n }) => ({
      stars,
      count: n,
      percent: count ? Math.floor((n * 100) / count) : 0,
    })),
  };
}

// The histogram after one more rating of `stars`.
export function withRating(histogram, stars) {
  return histogram.map((bucket) => ({
    stars: bucket.stars,
    count: bucket.count + (bucket.stars === stars ? 1 : 0),
  }));
}

// Polls `check` until it returns something truthy (the worker applies events asynchronously).
export async function eventually(check, what, timeoutMs = 20000) {
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    last = await check();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

// An HS256 JWT signed with the API's secret, as the service issues them (`sub`, `iat`, `exp`).
export function signedToken(subject, expiresInSeconds) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const header = encode({ alg: "HS256", typ: "JWT" });
  const claims = encode({ sub: subject, iat: now, exp: now + expiresInSeconds });
  const signature = createHmac("sha256", required("JWT_SECRET"))
    .update(`${header}.${claims}`)
    .digest("base64url");
  return `${header}.${claims}.${signature}`;
}

// The `sub` claim of a token the API issued (the user's database id).
export function subjectOf(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).sub;
}

// How many Redis connections listen on the stats channel (PUBSUB NUMSUB over RESP): an API
// process subscribes once it has its first subscriber, and graphql-transport-ws has no
// "subscribed" acknowledgement to wait for instead.
export function statsChannelListeners() {
  const url = new URL(required("REDIS_URL"));
  const channel = required("STATS_CHANNEL");
  const command = ["PUBSUB", "NUMSUB", channel];
  const request =
    `*${command.length}\r\n` +
    command.map((part) => `$${Buffer.byteLength(part)}\r\n${part}\r\n`).join("");
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port || 6379), url.hostname);
    let reply = "";
    socket.on("error", reject);
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      // *2 $<n> <channel> :<count>
      const match = reply.match(/:(\d+)\r\n$/);
      if (match) {
        socket.end();
        resolve(Number(match[1]));
      }
    });
    socket.write(request);
  });
}

// The rating figures as the book page shows them (RatingStats has no id: the cache merges it).
export const RATING_FIGURES = gql`
  fragment RatingFigures on RatingStats {
    count
    average
    histogram {
      stars
      count
      percent
    }
  }
`;
