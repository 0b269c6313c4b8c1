import { useMutation, useQuery } from '@urql/preact';
import { useState } from 'preact/hooks';
import {
  AddCommentDocument,
  FollowUserDocument,
  LikeReviewDocument,
  ReviewCommentsDocument,
  UnfollowUserDocument,
  UnlikeReviewDocument,
  type ReviewFieldsFragment,
  type ViewerFieldsFragment,
} from '../gql/graphql';
import { counted, longDate, stars } from '../format';
import { ErrorNote, MoreText, ToggleButton, useToggleMutation } from './common';

/** One community review: the reviewer's card, the text, likes and comments. */
export function ReviewCard({ review, viewer }: { review: ReviewFieldsFragment; viewer: ViewerFieldsFragment | null }) {
  const [commentsOpen, setCommentsOpen] = useState(false);
  const like = useToggleMutation(LikeReviewDocument, UnlikeReviewDocument);
  const user = review.user;
  const headingId = `review-${review.id}`;

  return (
    <article class="review" aria-labelledby={headingId} data-review={review.id}>
      <header class="reviewer">
        <div class="avatar" aria-hidden="true">
          {user.displayName.charAt(0).toUpperCase()}
        </div>
        <div>
          <h4 id={headingId} class="person">
            {user.displayName}
            {user.authoredBooksCount > 0 && (
              <span class="badge">Author of {counted(user.authoredBooksCount, 'book', 'books')}</span>
            )}
          </h4>
          <p class="counts">
            {counted(user.reviewsCount, 'review', 'reviews')} · {counted(user.followersCount, 'follower', 'followers')}
          </p>
        </div>
        {viewer?.id !== user.id && <FollowReviewer user={user} />}
      </header>
      <p class="meta">
        {review.rating !== null && (
          <span class="stars-shown" role="img" aria-label={`Rated ${stars(review.rating)} out of 5`}>
            {'★'.repeat(review.rating)}
            <span class="off">{'★'.repeat(5 - review.rating)}</span>
          </span>
        )}
        <time dateTime={review.createdAt}>{longDate(review.createdAt)}</time>
      </p>
      {review.text &&
        (review.spoiler ? (
          <details>
            <summary>This review has spoilers: show it</summary>
            <MoreText text={review.text} />
          </details>
        ) : (
          <MoreText text={review.text} />
        ))}
      <footer class="review-actions">
        <span data-figure="likes">{counted(review.likesCount, 'like', 'likes')}</span>
        <ToggleButton
          pressed={review.viewerHasLiked}
          label="Like"
          pressedLabel="Liked"
          busy={like.busy}
          onToggle={() => like.toggle(review.viewerHasLiked, { reviewId: review.id })}
        />
        <button type="button" class="link" aria-expanded={commentsOpen} onClick={() => setCommentsOpen(!commentsOpen)}>
          {counted(review.commentsCount, 'comment', 'comments')}
        </button>
      </footer>
      <ErrorNote error={like.error} />
      {commentsOpen && <Comments reviewId={review.id} />}
    </article>
  );
}

function FollowReviewer({ user }: { user: ReviewFieldsFragment['user'] }) {
  const follow = useToggleMutation(FollowUserDocument, UnfollowUserDocument);
  return (
    <div class="follow">
      <ToggleButton
        pressed={user.viewerIsFollowing}
        label="Follow"
        pressedLabel="Following"
        busy={follow.busy}
        onToggle={() => follow.toggle(user.viewerIsFollowing, { userId: user.id })}
      />
      <ErrorNote error={follow.error} />
    </div>
  );
}

function Comments({ reviewId }: { reviewId: string }) {
  const [after, setAfter] = useState<string | undefined>(undefined);
  const [result] = useQuery({ query: ReviewCommentsDocument, variables: { id: reviewId, after } });
  const [text, setText] = useState('');
  const [added, runAdd] = useMutation(AddCommentDocument);
  const comments = result.data?.review?.comments;
  const inputId = `comment-${reviewId}`;
  const submit = async (event: Event) => {
    event.preventDefault();
    const outcome = await runAdd({ reviewId, text });
    if (!outcome.error) setText('');
  };
  return (
    <div class="comments">
      <ErrorNote error={result.error} />
      {comments && (
        <ul>
          {comments.edges.map(({ node }) => (
            <li key={node.id}>
              <strong>{node.user.displayName}</strong> <time dateTime={node.createdAt}>{longDate(node.createdAt)}</time>
              <p>{node.text}</p>
            </li>
          ))}
        </ul>
      )}
      {comments?.pageInfo.hasNextPage && (
        <button type="button" class="link" onClick={() => setAfter(comments.pageInfo.endCursor ?? undefined)}>
          Show more comments
        </button>
      )}
      <form class="comment-form" onSubmit={submit}>
        <label for={inputId}>Add a comment</label>
        <textarea id={inputId} rows={2} required value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit" disabled={added.fetching}>
          Comment
        </button>
        <ErrorNote error={added.error} />
      </form>
    </div>
  );
}
