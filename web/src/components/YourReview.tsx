import { useMutation } from '@urql/preact';
import { useState } from 'preact/hooks';
import {
  ClearRatingDocument,
  DeleteReviewDocument,
  RateBookDocument,
  SetShelfDocument,
  WriteReviewDocument,
  type ReviewFieldsFragment,
  type Shelf,
  type ViewerFieldsFragment,
} from '../gql/graphql';
import { stars } from '../format';
import { ErrorNote, MoreText } from './common';
import { StarRating } from './Ratings';

const SHELVES: Array<[Shelf | '', string]> = [
  ['', 'Not on a shelf'],
  ['WANT_TO_READ', 'Want to read'],
  ['CURRENTLY_READING', 'Currently reading'],
  ['READ', 'Read'],
];

/** The viewer's own entry: shelf, rating, review text. Signed out, the controls still work and
 * the API's answer ("log in") is shown in words. */
export function YourReview(props: {
  bookId: string;
  review: ReviewFieldsFragment | null;
  viewer: ViewerFieldsFragment | null;
}) {
  const { bookId, review } = props;
  const [shelf, runSetShelf] = useMutation(SetShelfDocument);
  const [rate, runRate] = useMutation(RateBookDocument);
  const [clear, runClear] = useMutation(ClearRatingDocument);
  // The chosen star shows while the API answers; a refused rating shows the stored one again.
  const [pending, setPending] = useState<number | null>(null);
  const onRate = async (n: number) => {
    setPending(n);
    await runRate({ bookId, stars: n });
    setPending(null);
  };
  return (
    <section class="your-review" aria-labelledby="your-review-heading">
      <h2 id="your-review-heading" class="visually-hidden">
        Your shelf and rating
      </h2>
      <label class="shelf">
        Shelf
        <select
          value={review?.shelf ?? ''}
          disabled={shelf.fetching}
          onChange={(e) => runSetShelf({ bookId, shelf: (e.currentTarget.value || null) as Shelf | null })}
        >
          {SHELVES.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <ErrorNote error={shelf.error} />
      <StarRating name="your-rating" value={pending ?? review?.rating ?? null} onRate={onRate} />
      {review?.rating ? (
        <p class="your-rating">
          You rated it <strong data-figure="your-rating">{stars(review.rating)}</strong>{' '}
          <button type="button" class="link" onClick={() => runClear({ bookId })}>
            Clear rating
          </button>
        </p>
      ) : null}
      <ErrorNote error={rate.error ?? clear.error} />
      <ReviewEditor bookId={bookId} review={review} />
    </section>
  );
}

function ReviewEditor({ bookId, review }: { bookId: string; review: ReviewFieldsFragment | null }) {
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [text, setText] = useState('');
  const [spoiler, setSpoiler] = useState(false);
  const [write, runWrite] = useMutation(WriteReviewDocument);
  const [remove, runRemove] = useMutation(DeleteReviewDocument);

  const startEditing = () => {
    setText(review?.text ?? '');
    setSpoiler(review?.spoiler ?? false);
    setEditing(true);
  };
  const save = async (event: Event) => {
    event.preventDefault();
    const result = await runWrite({ input: { bookId, text, spoiler } });
    if (!result.error) setEditing(false);
  };
  const confirmDelete = async () => {
    if (!review) return;
    const result = await runRemove({ id: review.id });
    if (!result.error) setConfirming(false);
  };

  if (editing) {
    return (
      <form class="review-editor" onSubmit={save}>
        <label for="review-text">Your review</label>
        <textarea id="review-text" rows={8} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <label class="check">
          <input type="checkbox" checked={spoiler} onChange={(e) => setSpoiler(e.currentTarget.checked)} />
          Contains spoilers
        </label>
        <div class="actions">
          <button type="submit" disabled={write.fetching}>
            Save review
          </button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </div>
        <ErrorNote error={write.error} />
      </form>
    );
  }
  if (!review?.text) {
    return (
      <button type="button" class="primary" onClick={startEditing}>
        Write a review
      </button>
    );
  }
  return (
    <div class="your-text">
      <h3>Your review</h3>
      <MoreText text={review.text} limit={300} />
      <div class="actions">
        <button type="button" onClick={startEditing}>
          Edit review
        </button>
        {confirming ? (
          <>
            <button type="button" class="danger" onClick={confirmDelete} disabled={remove.fetching}>
              Delete for good
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep it
            </button>
          </>
        ) : (
          <button type="button" onClick={() => setConfirming(true)}>
            Delete review
          </button>
        )}
      </div>
      <ErrorNote error={remove.error} />
    </div>
  );
}
