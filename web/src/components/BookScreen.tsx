import { useQuery, useSubscription } from '@urql/preact';
import {
  BookPageDocument,
  BookStatsChangedDocument,
  FirstBookPageDocument,
  FollowAuthorDocument,
  UnfollowAuthorDocument,
  type AuthorFieldsFragment,
  type BookPageFieldsFragment,
  type ViewerFieldsFragment,
} from '../gql/graphql';
import { counted, longDate } from '../format';
import { Account } from './Account';
import { ErrorNote, MoreText, ToggleButton, useToggleMutation } from './common';
import { Histogram, RatingSummary } from './Ratings';
import { Reviews } from './Reviews';
import { YourReview } from './YourReview';

// The page's first render asks for the default list: the same variables Reviews starts with.
export const FIRST_LIST = { sort: 'POPULAR' } as const;

/** The book page: one query renders it (BookPage, or FirstBookPage when the address names
 * no book: `/?book=<id>` picks one), then the subscription keeps its figures live. */
export function BookScreen(props: {
  signedIn: boolean;
  notice: string | null;
  onSignIn: (token: string) => void;
  onSignOut: () => void;
}) {
  const bookId = new URLSearchParams(window.location.search).get('book');
  const [byId, refetchById] = useQuery({
    query: BookPageDocument,
    variables: { id: bookId ?? '', ...FIRST_LIST },
    pause: !bookId,
  });
  const [first, refetchFirst] = useQuery({ query: FirstBookPageDocument, variables: FIRST_LIST, pause: !!bookId });
  const result = bookId ? byId : first;
  const book = bookId ? byId.data?.book : first.data?.books.edges[0]?.node;
  const viewer = (bookId ? byId.data?.viewer : first.data?.viewer) ?? null;
  const retry = () => (bookId ? refetchById : refetchFirst)({ requestPolicy: 'network-only' });

  return (
    <>
      <a class="skip" href="#reviews">
        Jump to ratings and reviews
      </a>
      <header class="topbar">
        <span class="brand">Books</span>
        <Account viewer={viewer} onSignIn={props.onSignIn} onSignOut={props.onSignOut} />
      </header>
      {props.notice && (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
      <main>
        {book ? (
          <BookView book={book} viewer={viewer} signedIn={props.signedIn} />
        ) : result.error ? (
          <div class="problem">
            <h1>The book page could not be loaded</h1>
            <ErrorNote error={result.error} />
            <button type="button" onClick={retry}>
              Try again
            </button>
          </div>
        ) : result.fetching || result.stale || !result.data ? (
          <p role="status">Loading the book…</p>
        ) : (
          <h1>No such book</h1>
        )}
      </main>
    </>
  );
}

function BookView({ book, viewer }: { book: BookPageFieldsFragment; viewer: ViewerFieldsFragment | null; signedIn: boolean }) {
  // Another reader's rating reaches this page through the worker's bookStatsChanged push.
  useSubscription({ query: BookStatsChangedDocument, variables: { bookId: book.id } });
  const stats = book.ratingStats;
  return (
    <div class="book">
      <header class="book-head">
        <h1 id="book-title">{book.title}</h1>
        {book.subtitle && <p class="subtitle">{book.subtitle}</p>}
        <p class="byline">
          by{' '}
          {book.authors.map((author, index) => (
            <>
              {index > 0 && ', '}
              <a href={`#author-${author.id}`}>{author.name}</a>
            </>
          ))}
        </p>
        <RatingSummary stats={stats} reviewsCount={book.reviewsCount} />
      </header>
      <aside class="cover-column" aria-label="Cover and your shelf">
        {book.coverUrl ? (
          <img class="cover" src={book.coverUrl} alt={`Cover of ${book.title}`} />
        ) : (
          <div class="cover placeholder" role="img" aria-label={`Cover placeholder for ${book.title}`}>
            <span aria-hidden="true">{book.title}</span>
          </div>
        )}
        <YourReview bookId={book.id} review={book.viewerReview} viewer={viewer} />
      </aside>
      <div class="book-main">
        {book.description && <MoreText text={book.description} limit={700} />}
        <section aria-labelledby="details-heading">
          <h2 id="details-heading">Details</h2>
          <dl class="details">
            {book.pageCount !== null && (
              <>
                <dt>Pages</dt>
                <dd>{counted(book.pageCount, 'page', 'pages')}</dd>
              </>
            )}
            {book.format && (
              <>
                <dt>Format</dt>
                <dd>{book.format}</dd>
              </>
            )}
            {book.firstPublished && (
              <>
                <dt>First published</dt>
                <dd>{longDate(book.firstPublished)}</dd>
              </>
            )}
          </dl>
          <p class="readers">
            <span data-figure="currently-reading">
              {counted(book.shelfCounts.currentlyReading, 'person is', 'people are')} currently reading
            </span>
            <span data-figure="want-to-read">
              {counted(book.shelfCounts.wantToRead, 'person wants', 'people want')} to read
            </span>
          </p>
        </section>
        <section aria-labelledby="about-author">
          <h2 id="about-author">About the author</h2>
          {book.authors.map((author) => (
            <AuthorCard key={author.id} author={author} />
          ))}
        </section>
        <section id="reviews" aria-labelledby="ratings-heading">
          <h2 id="ratings-heading">Ratings &amp; Reviews</h2>
          <h3>Community Reviews</h3>
          <RatingSummary stats={stats} reviewsCount={book.reviewsCount} />
          <Histogram stats={stats} />
          <Reviews bookId={book.id} viewer={viewer} />
        </section>
      </div>
    </div>
  );
}

function AuthorCard({ author }: { author: AuthorFieldsFragment }) {
  const follow = useToggleMutation(FollowAuthorDocument, UnfollowAuthorDocument);
  return (
    <div class="author-card" id={`author-${author.id}`}>
      <div class="avatar" aria-hidden="true">
        {author.name.charAt(0)}
      </div>
      <div>
        <h3 class="person">
          {author.name} <span class="badge">Author</span>
        </h3>
        <p class="counts">
          {counted(author.booksCount, 'book', 'books')} · {counted(author.followersCount, 'follower', 'followers')}
        </p>
        <ToggleButton
          pressed={author.viewerIsFollowing}
          label={`Follow ${author.name}`}
          pressedLabel={`Following ${author.name}`}
          busy={follow.busy}
          onToggle={() => follow.toggle(author.viewerIsFollowing, { authorId: author.id })}
        />
        <ErrorNote error={follow.error} />
        {author.bio && <MoreText text={author.bio} />}
      </div>
    </div>
  );
}

