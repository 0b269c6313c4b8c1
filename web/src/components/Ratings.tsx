import { useState } from 'preact/hooks';
import type { RatingStatsFieldsFragment } from '../gql/graphql';
import { count, counted, stars } from '../format';

/** "★★★★☆ 4.02 · 202 ratings · 29 reviews" */
export function RatingSummary({ stats, reviewsCount }: { stats: RatingStatsFieldsFragment; reviewsCount: number }) {
  return (
    <p class="summary">
      <StarsShown value={stats.average} />
      <span class="average" data-figure="average">
        {stats.average.toFixed(2)}
      </span>
      <span data-figure="ratings-count">{counted(stats.count, 'rating', 'ratings')}</span>
      <span data-figure="reviews-count">{counted(reviewsCount, 'review', 'reviews')}</span>
    </p>
  );
}

/** Stars as a picture, with its value in words for screen readers. */
export function StarsShown({ value }: { value: number }) {
  const full = Math.round(value);
  return (
    <span class="stars-shown" role="img" aria-label={`${value.toFixed(2)} out of 5 stars`}>
      {'★'.repeat(full)}
      <span class="off">{'★'.repeat(5 - full)}</span>
    </span>
  );
}

/** The histogram: a bar per star count with "3,937 (38%)", as the seed page shows it. */
export function Histogram({ stats }: { stats: RatingStatsFieldsFragment }) {
  return (
    <ul class="histogram" aria-label="Ratings by stars">
      {stats.histogram.map((bucket) => (
        <li key={bucket.stars} data-stars={bucket.stars}>
          <span class="label">{stars(bucket.stars)}</span>
          <span class="bar" aria-hidden="true">
            <span class="fill" style={{ width: `${bucket.percent}%` }} />
          </span>
          <span class="figure">
            {count(bucket.count)} ({bucket.percent}%)
          </span>
        </li>
      ))}
    </ul>
  );
}

/** A star rating the keyboard can use: a radio group (arrow keys move and choose). */
export function StarRating(props: {
  name: string;
  value: number | null;
  disabled?: boolean;
  onRate: (stars: number) => void;
}) {
  const [hover, setHover] = useState<number | null>(null);
  const lit = hover ?? props.value ?? 0;
  return (
    <fieldset class="star-rating" onMouseLeave={() => setHover(null)}>
      <legend>{props.value ? 'Your rating' : 'Rate this book'}</legend>
      {[1, 2, 3, 4, 5].map((n) => (
        <label key={n} class={n <= lit ? 'lit' : undefined} onMouseEnter={() => setHover(n)}>
          <input
            type="radio"
            name={props.name}
            value={n}
            checked={props.value === n}
            disabled={props.disabled}
            onChange={() => props.onRate(n)}
          />
          <span aria-hidden="true">★</span>
          <span class="visually-hidden">{stars(n)}</span>
        </label>
      ))}
    </fieldset>
  );
}
