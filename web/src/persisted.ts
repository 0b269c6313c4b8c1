/**
 * Trusted documents: every query and mutation goes out as its hash alone (Apollo's
 * `extensions.persistedQuery.sha256Hash`, no `query`), the hash graphql-codegen computed for
 * the manifest the API registers at start-up. So the SPA works when the API accepts
 * registered documents only (PERSISTED_QUERIES_ONLY=true), and requests stay small.
 */
import { makeOperation, mapExchange } from '@urql/core';

type WithHash = { __meta__?: { hash?: string } };

export const persistedExchange = mapExchange({
  onOperation(operation) {
    if (operation.kind !== 'query' && operation.kind !== 'mutation') return operation;
    const hash = (operation.query as WithHash).__meta__?.hash;
    if (!hash) return operation;
    const persistedQuery = { version: 1 as const, sha256Hash: hash };
    return makeOperation(
      operation.kind,
      { ...operation, extensions: { ...operation.extensions, persistedQuery } },
      operation.context,
    );
  },
});

/**
 * Vite's dev server only: the operations may be newer than the manifest the API registered,
 * so each request also carries its document text from the generated manifest (the API
 * checks it against the hash and stores it, as automatic persisted queries do).
 */
export function fetchWithDocuments(manifest: Record<string, string>): typeof fetch {
  return (input, init) => {
    if (typeof init?.body === 'string') {
      const body = JSON.parse(init.body) as {
        query?: string;
        extensions?: { persistedQuery?: { sha256Hash?: string } };
      };
      const hash = body.extensions?.persistedQuery?.sha256Hash;
      if (hash && !body.query && manifest[hash]) {
        init = { ...init, body: JSON.stringify({ ...body, query: manifest[hash] }) };
      }
    }
    return fetch(input, init);
  };
}
