// The smallest single-page app of the service: sign up, load the book page over fetch, then keep
// its figures live through a graphql-ws subscription. Bundled with esbuild by the test; the
// page's address says where the API is: index.html?api=<http url>&book=<id>&username=<name>.

import { createClient } from "graphql-ws";

const params = new URLSearchParams(location.search);
const api = params.get("api");
const bookId = params.get("book");

const SIGN_UP = `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { token } }`;
const BOOK_PAGE = `query BookPage($id: ID!) {
  book(id: $id) {
    title
    ratingStats { count average }
    reviews(first: 10) { edges { node { id } } }
  }
}`;
const LIVE_FIGURES = `subscription LiveFigures($id: ID!) {
  bookStatsChanged(bookId: $id) { ratingStats { count average } }
}`;

function show(id, text) {
  document.getElementById(id).textContent = String(text);
}

function showFigures(stats) {
  show("count", stats.count);
  show("average", stats.average.toFixed(2));
}

async function graphql(query, variables, token) {
  const headers = {
    "content-type": "application/json",
    accept: "application/graphql-response+json",
  };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(api, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) throw new Error(`${response.status} ${JSON.stringify(body)}`);
  return { data: body.data, requestId: response.headers.get("x-request-id") };
}

async function main() {
  const password = "correct-horse-battery";
  const { data: signedUp } = await graphql(SIGN_UP, {
    input: { username: params.get("username"), password },
  });
  const token = signedUp.signUp.token;

  const { data, requestId } = await graphql(BOOK_PAGE, { id: bookId }, token);
  show("title", data.book.title);
  showFigures(data.book.ratingStats);
  show("reviews", data.book.reviews.edges.length);
  show("request-id", requestId ?? "not exposed");

  const client = createClient({
    url: api.replace(/^http/, "ws"),
    connectionParams: { authorization: `Bearer ${token}` },
    on: { connected: () => show("live", "yes") },
  });
  let pushes = 0;
  client.subscribe(
    { query: LIVE_FIGURES, variables: { id: bookId } },
    {
      next: (result) => {
        if (result.errors) throw new Error(JSON.stringify(result.errors));
        pushes += 1;
        showFigures(result.data.bookStatsChanged.ratingStats);
        show("pushes", pushes);
      },
      error: (error) => {
        throw error instanceof Error
          ? error
          : new Error(`subscription failed: ${error?.code ?? error}`);
      },
      complete: () => show("live", "ended"),
    },
  );
}

main().catch((error) => {
  show("error", error.message);
  throw error;
});
