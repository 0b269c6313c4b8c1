import { useQuery } from '@urql/preact';
import { useRef, useState } from 'preact/hooks';
import {
  BookReviewsDocument,
  type BookReviewsQuery,
  type ReviewSort,
  type ViewerFieldsFragment,
} from '../gql/graphql';
import { count } from '../format';
import { ErrorNote } from './common';
import { ReviewCard } from './ReviewCard';

type Filters = { sort: ReviewSort; stars?: number[]; search?: string };

const SORTS: Array<[ReviewSort, string]> = [
  ['POPULAR', 'Popular'],
  ['NEWEST', 'Newest'],
  ['OLDEST', 'Oldest'],
];

/**
 * Community reviews, 30 at a time. The first page comes from the page query's cache entry (the
 * same arguments), so the first render costs no request of its own; "Show more" asks for the
 * page after the last cursor and graphcache joins it to the list.
 */
export function Reviews({ bookId, viewer }: { bookId: string; viewer: ViewerFieldsFragment | null }) {
  const [filters, setFilters] = useState<Filters>({ sort: 'POPULAR' });
  const [after, setAfter] = useState<string | undefined>(undefined);
  const [searchText, setSearchText] = useState('');
  const [result] = useQuery({ query: BookReviewsDocument, variables: { id: bookId, after, ...filters } });
  // While the next page or another filter loads, the list on screen stays.
  const shown = useRef<BookReviewsQuery | undefined>(undefined);
  if (result.data) shown.current = result.data;
  const reviews = shown.current?.book?.reviews;
  const loading = result.fetching || result.stale;

  const change = (next: Partial<Filters>) => {
    setAfter(undefined);
    setFilters({ ...filters, ...next });
  };
  const search = (event: Event) => {
    event.preventDefault();
    change({ search: searchText.trim() || undefined });
  };

  return (
    <div class="reviews" aria-busy={loading}>
      <div class="review-controls">
        <label>
          Sort by
          <select value={filters.sort} onChange={(e) => change({ sort: e.currentTarget.value as ReviewSort })}>
            {SORTS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </label>
        <label>
          Rating
          <select
            value={filters.stars ? String(filters.stars[0]) : ''}
            onChange={(e) => change({ stars: e.currentTarget.value ? [Number(e.currentTarget.value)] : undefined })}
          >
            <option value="">All ratings</option>
            {[5, 4, 3, 2, 1].map((n) => (
              <option key={n} value={n}>
                {n === 1 ? '1 star' : `${n} stars`}
              </option>
            ))}
          </select>
        </label>
        <form role="search" class="review-search" onSubmit={search}>
          <label>
            Search review text
            <input type="search" value={searchText} onInput={(e) => setSearchText(e.currentTarget.value)} />
          </label>
          <button type="submit">Search</button>
        </form>
      </div>
      <ErrorNote error={result.error} />
      {reviews && (
        <>
          <p class="displaying" role="status">
            {reviews.edges.length === 0
              ? 'No reviews match.'
              : `Displaying 1 - ${reviews.edges.length} of ${count(reviews.totalCount)} reviews`}
          </p>
          <ol class="review-list">
            {reviews.edges.map((edge) => (
              <li key={edge.node.id}>
                <ReviewCard review={edge.node} viewer={viewer} />
              </li>
            ))}
          </ol>
          {reviews.pageInfo.hasNextPage && (
            <button
              type="button"
              class="more"
              disabled={loading}
              onClick={() => setAfter(reviews.pageInfo.endCursor ?? undefined)}
            >
              {loading ? 'Loading…' : 'Show more reviews'}
            </button>
          )}
        </>
      )}
      {!reviews && loading && <p role="status">Loading reviews…</p>}
    </div>
  );
}
