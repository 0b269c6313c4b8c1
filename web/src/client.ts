/**
 * The urql client: normalized cache, trusted documents (hashes only), queries and mutations
 * over HTTP, the subscription over graphql-ws. A new client (and cache) per token, so nothing
 * one reader saw leaks to the next.
 */
import { Client, fetchExchange, mapExchange, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient } from 'graphql-ws';
import { normalizedCache } from './cache';
import { httpUrl, wsUrl } from './config';
import { errorCode } from './errors';
import manifest from './gql/persisted-documents.json';
import { fetchWithDocuments, persistedExchange } from './persisted';

export type Session = { client: Client; close: () => void };

export function openSession(token: string | null, onSignedOut: () => void): Session {
  const authorization = token ? `Bearer ${token}` : undefined;
  const ws = createWsClient({
    url: wsUrl,
    // Browsers cannot set WebSocket headers: the token goes in connection_init's payload.
    connectionParams: authorization ? { authorization } : {},
    lazy: true,
    retryAttempts: 20,
  });
  const client = new Client({
    url: httpUrl,
    preferGetMethod: false,
    fetch: import.meta.env.DEV ? fetchWithDocuments(manifest) : undefined,
    fetchOptions: () => (authorization ? { headers: { authorization } } : {}),
    exchanges: [
      mapExchange({
        onError(error) {
          // A token the API no longer accepts (expired, or a new secret): sign out.
          if (token && errorCode(error) === 'UNAUTHENTICATED') onSignedOut();
        },
      }),
      normalizedCache(),
      persistedExchange,
      subscriptionExchange({
        forwardSubscription(request, operation) {
          // The registered text of the document, so that it runs where only trusted
          // documents do (the API checks its SHA-256 against the registered ones).
          const hash = (operation.query as { __meta__?: { hash?: string } }).__meta__?.hash;
          const registered = hash ? (manifest as Record<string, string>)[hash] : undefined;
          const input = { ...request, query: registered ?? request.query ?? '' };
          return {
            subscribe(sink) {
              return { unsubscribe: ws.subscribe(input, sink) };
            },
          };
        },
      }),
      fetchExchange,
    ],
  });
  return { client, close: () => void ws.dispose() };
}
