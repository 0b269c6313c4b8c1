/** The reader's token, kept in localStorage (bearer tokens, no cookies: see the README). */
const KEY = 'books.token';

export function loadToken(): string | null {
  try {
    return window.localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string | null): void {
  try {
    if (token) window.localStorage.setItem(KEY, token);
    else window.localStorage.removeItem(KEY);
  } catch {
    // storage disabled: the session lasts as long as the page
  }
}
