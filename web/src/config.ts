/** Where the API is: VITE_API_URL under Vite's dev server, else the page's books-api meta tag
 * (relative "/graphql" when the API serves the page). WebSocket on the same URL. */
const meta = document.querySelector<HTMLMetaElement>('meta[name="books-api"]')?.content;

export const httpUrl = new URL(
  import.meta.env.VITE_API_URL || meta || '/graphql',
  window.location.href,
).href;

export const wsUrl = httpUrl.replace(/^http/, 'ws');
