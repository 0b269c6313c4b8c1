/** API errors in words for the reader: `extensions.code` from the contract -> a sentence. */
import type { CombinedError } from '@urql/core';

const WORDS: Record<string, string> = {
  UNAUTHENTICATED: 'You are not logged in (or your session has ended). Log in and try again.',
  FORBIDDEN: 'You are not allowed to do that.',
  NOT_FOUND: 'That no longer exists.',
  SERVICE_UNAVAILABLE: 'The book service is unavailable right now. Please try again in a moment.',
  PERSISTED_QUERY_NOT_FOUND:
    'This page is out of date: the server does not know its requests. Reload the page.',
  INTERNAL_SERVER_ERROR: 'Something went wrong on our side. Please try again.',
};

export function errorCode(error: CombinedError | undefined): string | undefined {
  const code = error?.graphQLErrors[0]?.extensions?.code;
  return typeof code === 'string' ? code : undefined;
}

export function describeError(error: CombinedError): string {
  const first = error.graphQLErrors[0];
  if (first) {
    const code = errorCode(error);
    if (code === 'BAD_USER_INPUT') {
      // The API words bad input for people ("stars must be between 1 and 5, got 9").
      return first.message.charAt(0).toUpperCase() + first.message.slice(1) + '.';
    }
    if (code === 'RATE_LIMITED') {
      const seconds = Number(first.extensions?.retryAfter);
      const wait = Number.isFinite(seconds) && seconds > 0 ? ` in ${Math.ceil(seconds)} s` : ' later';
      return `Too many requests. Please try again${wait}.`;
    }
    if (code && WORDS[code]) return WORDS[code];
    return first.message;
  }
  if (error.networkError) return 'Cannot reach the book service. Check your connection and try again.';
  return error.message;
}
