/**
 * graphcache: one normalized copy of every Book, Review, User and Author, so a subscription
 * push or a mutation's payload updates every place the page shows it. The figure objects
 * (RatingStats, ShelfCounts) and connections have no id: they are embedded in their parent
 * (keys -> null) and replaced whole when a fresher copy arrives.
 */
import { cacheExchange, type Cache, type Data, type DataFields } from '@urql/exchange-graphcache';
import { relayPagination } from '@urql/exchange-graphcache/extras';

const embedded = () => null;

type Args = Record<string, unknown>;

const book = (id: unknown) => ({ __typename: 'Book', id: id as string });
const review = (id: unknown) => ({ __typename: 'Review', id: id as string });

/** The book's viewerReview becomes what a write returned (null: the entry was deleted). */
const linkViewerReview = (field: string) => (result: DataFields, args: Args, cache: Cache) => {
  cache.link(book(args.bookId), 'viewerReview', (result[field] as Data | null) ?? null);
};

/** Forget the loaded review pages of a book: the lists are fetched again, in their order. */
function invalidateReviewPages(cache: Cache, bookId: unknown): void {
  const key = cache.keyOfEntity(book(bookId));
  if (!key) return;
  for (const field of cache.inspectFields(key)) {
    if (field.fieldName === 'reviews') cache.invalidate(key, field.fieldName, field.arguments ?? undefined);
  }
}

function likedReview(args: Args, cache: Cache, liked: boolean): Data {
  const key = review(args.reviewId);
  const wasLiked = cache.resolve(key, 'viewerHasLiked') === true;
  const likes = (cache.resolve(key, 'likesCount') as number | null) ?? 0;
  const likesCount = wasLiked === liked ? likes : Math.max(0, likes + (liked ? 1 : -1));
  return { ...key, likesCount, viewerHasLiked: liked };
}

export const normalizedCache = () =>
  cacheExchange({
    keys: {
      RatingStats: embedded,
      RatingBucket: embedded,
      ShelfCounts: embedded,
      PageInfo: embedded,
      AuthPayload: embedded,
      BookConnection: embedded,
      BookEdge: embedded,
      ReviewConnection: embedded,
      ReviewEdge: embedded,
      CommentConnection: embedded,
      CommentEdge: embedded,
    },
    resolvers: {
      // book(id) and review(id) are entities the cache may already hold (from the page query).
      Query: {
        book: (_parent, args) => book(args.id),
        review: (_parent, args) => review(args.id),
      },
      // "Show more": pages of one list (same sort, stars, search) are joined in order.
      Book: { reviews: relayPagination() },
      Review: { comments: relayPagination() },
    },
    updates: {
      Mutation: {
        rateBook: linkViewerReview('rateBook'),
        clearRating: linkViewerReview('clearRating'),
        setShelf: linkViewerReview('setShelf'),
        writeReview(result, args, cache) {
          const input = args.input as Args;
          linkViewerReview('writeReview')(result, input, cache);
          invalidateReviewPages(cache, input.bookId);
        },
        deleteReview(result, args, cache) {
          // Every view holding the review (the viewer's own, the list) is fetched again.
          if (result.deleteReview) cache.invalidate(review(args.id));
        },
        addComment(_result, args, cache) {
          cache.invalidate(review(args.reviewId), 'comments', { first: 20 });
        },
      },
    },
    optimistic: {
      // A like shows at once; the API's answer (the new count) replaces it.
      likeReview: (args, cache) => likedReview(args, cache, true),
      unlikeReview: (args, cache) => likedReview(args, cache, false),
    },
  });
