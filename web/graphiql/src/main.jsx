// GraphiQL for the book service: everything it needs is in this bundle, and it talks only to
// the origin that served the page (HTTP for queries and mutations, graphql-transport-ws for
// subscriptions), so it works without any network beyond the service itself.
import { explorerPlugin } from '@graphiql/plugin-explorer';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { parse } from 'graphql';
import { createClient } from 'graphql-ws';
import { createRoot } from 'react-dom/client';

import 'graphiql/style.css';
import '@graphiql/plugin-explorer/style.css';

const httpUrl = `${location.origin}/graphql`;
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;

const DEFAULT_QUERY = `# GraphiQL for the book service: Ctrl-Enter runs the operation.
# A token from signUp or logIn goes in the headers tab below:
#   {"Authorization": "Bearer <token>"}
# (subscriptions get it in their connection_init payload).

{
  books(first: 1) {
    edges {
      node {
        id
        title
      }
    }
  }
}
`;

/** The Authorization header set in the headers editor, whatever its case; null if none. */
function authorizationOf(headers) {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() === 'authorization' && typeof value === 'string') return value;
  }
  return null;
}

// Browsers cannot set headers on a WebSocket: a subscription's viewer travels in the
// connection_init payload. One fetcher (and one lazy graphql-ws client, which holds a socket
// only while a subscription runs) per distinct Authorization value.
const fetchers = new Map();

function fetcherFor(authorization) {
  let fetcher = fetchers.get(authorization);
  if (!fetcher) {
    const wsClient = createClient({
      url: wsUrl,
      connectionParams: authorization ? { authorization } : {},
    });
    fetcher = createGraphiQLFetcher({ url: httpUrl, wsClient, enableIncrementalDelivery: false });
    fetchers.set(authorization, fetcher);
  }
  return fetcher;
}

/** The document being sent, parsed: GraphiQL's own AST of the editor lags 100 ms behind typing,
 * and with it a subscription pasted and run at once would go over HTTP. */
function documentOf(params, options) {
  try {
    return parse(params.query);
  } catch {
    return options?.documentAST;
  }
}

function fetcher(params, options) {
  const authorization = authorizationOf(options?.headers);
  return fetcherFor(authorization)(params, { ...options, documentAST: documentOf(params, options) });
}

const plugins = [explorerPlugin()];

createRoot(document.getElementById('graphiql')).render(
  <GraphiQL
    fetcher={fetcher}
    plugins={plugins}
    defaultQuery={DEFAULT_QUERY}
    defaultEditorToolsVisibility={true}
    isHeadersEditorEnabled={true}
    inputValueDeprecation={true}
  />,
);
