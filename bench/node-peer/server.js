'use strict'
// The bench's Node.js peer (bench/RESULTS.md): the book page query (bench/queries.py) served by
// Fastify + Mercurius with graphql-jit (`jit: 1`) from the same MongoDB database, with the same
// ids, cursors and JSON data as the Python service; per-request DataLoaders batch the reads
// into the same finds (book, authors, the page of reviews, its reviewers; a viewer's own entry).
// A peer for measuring, not production: only the book page's part of the schema.
// The mongodb driver is pinned to 6.5: from 6.6 on it reads cursor replies lazily and requires
// `cursor.id` to be an int64, which the embedded MongoDB (mongoeco) sends as an int32.
//
// Environment (the bench's API settings): PORT, HOST, MONGODB_URL, MONGODB_DB, JWT_SECRET.
// Besides POST /graphql: GET /healthz, GET /bench/stats (responses per path, as bench.app
// counts them) and GET /metrics (`mongodb_commands{command="find"} N`, from the driver's
// command monitoring, as the Python API reports them).

const crypto = require('node:crypto')
const Fastify = require('fastify')
const mercurius = require('mercurius')
const DataLoader = require('dataloader')
const { MongoClient, ObjectId } = require('mongodb')

const schema = `
  scalar DateTime
  scalar Date
  type Query { book(id: ID!): Book }
  type Author { id: ID! name: String! photoUrl: String booksCount: Int! followersCount: Int! }
  type RatingBucket { stars: Int! count: Int! percent: Int! }
  type RatingStats { average: Float! count: Int! histogram: [RatingBucket!]! }
  type ShelfCounts { wantToRead: Int! currentlyReading: Int! read: Int! }
  type PageInfo { hasNextPage: Boolean! endCursor: String }
  type User {
    id: ID! displayName: String! avatarUrl: String
    reviewsCount: Int! followersCount: Int! authoredBooksCount: Int!
  }
  type Review {
    id: ID! rating: Int text: String spoiler: Boolean! createdAt: DateTime!
    likesCount: Int! commentsCount: Int! shelf: String user: User!
  }
  type ReviewEdge { cursor: String! node: Review! }
  type ReviewConnection { edges: [ReviewEdge!]! pageInfo: PageInfo! }
  type Book {
    id: ID! title: String! subtitle: String description: String pageCount: Int format: String
    firstPublished: Date coverUrl: String genres: [String!]!
    authors: [Author!]! ratingStats: RatingStats! shelfCounts: ShelfCounts! reviewsCount: Int!
    reviews(first: Int = 30, after: String): ReviewConnection!
    viewerReview: Review
  }
`

// --- ids, cursors, dates: the Python service's formats (service/ids.py) ---------------------

const b64url = (buffer) => buffer.toString('base64url')
const globalId = (type, oid) => b64url(Buffer.from(`${type}:${oid.toHexString()}`))

function fromGlobalId (value, type) {
  const [found, hex] = Buffer.from(String(value), 'base64url').toString().split(':')
  if (found !== type || !ObjectId.isValid(hex)) throw new Error(`'${value}' is not a valid ${type} id`)
  return new ObjectId(hex)
}

// Python's float repr as orjson writes it: integral floats keep their ".0".
const pyFloat = (x) => (Number.isInteger(x) ? `${x}.0` : JSON.stringify(x))

function keyValue (value) {
  if (value instanceof ObjectId) return `{"o":"${value.toHexString()}"}`
  if (value instanceof Date) return `{"d":${pyFloat(value.getTime() / 1000)}}`
  return JSON.stringify(value ?? null)
}

const POPULAR = { name: 'reviews:popular', sort: [['likes_count', -1], ['created_at', -1], ['_id', -1]] }
const cursorOf = (doc) =>
  b64url(Buffer.from(`["${POPULAR.name}",[${POPULAR.sort.map(([f]) => keyValue(doc[f])).join(',')}]]`))

// datetime.isoformat() of the driver's UTC datetimes (millisecond precision).
function isoformat (date) {
  const text = date.toISOString() // 2024-01-02T03:04:05.123Z
  const ms = date.getUTCMilliseconds()
  return text.slice(0, 19) + (ms ? `.${String(ms).padStart(3, '0')}000` : '') + '+00:00'
}

// --- the viewer: HS256 JWTs as service.auth issues them ----------------------------------------

function viewerOf (authorization, secret) {
  if (!authorization || !authorization.toLowerCase().startsWith('bearer ')) return null
  const [header, payload, signature] = authorization.slice(7).trim().split('.')
  if (!signature) return null
  const expected = crypto.createHmac('sha256', secret).update(`${header}.${payload}`).digest()
  const given = Buffer.from(signature, 'base64url')
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    if (!claims.sub || !claims.exp || claims.exp * 1000 <= Date.now()) return null
    return new ObjectId(claims.sub)
  } catch {
    return null
  }
}

// --- reads: per-request DataLoaders over one find each ------------------------------------------

function byIdLoader (collection) {
  return new DataLoader(async (ids) => {
    const docs = await collection.find({ _id: { $in: ids } }).toArray()
    const found = new Map(docs.map((d) => [d._id.toHexString(), d]))
    return ids.map((id) => found.get(id.toHexString()) ?? null)
  }, { cacheKeyFn: (id) => id.toHexString() })
}

function loadersFor (db, viewer) {
  return {
    book: byIdLoader(db.collection('books')),
    author: byIdLoader(db.collection('authors')),
    user: byIdLoader(db.collection('users')),
    viewerEntry: new DataLoader(async (bookIds) => {
      const docs = await db.collection('reviews').find({ user_id: viewer, book_id: { $in: bookIds } }).toArray()
      const found = new Map(docs.map((d) => [d.book_id.toHexString(), d]))
      return bookIds.map((id) => found.get(id.toHexString()) ?? null)
    }, { cacheKeyFn: (id) => id.toHexString() })
  }
}

const resolvers = {
  Query: {
    book: (_, { id }, ctx) => ctx.loaders.book.load(fromGlobalId(id, 'Book'))
  },
  Book: {
    id: (doc) => globalId('Book', doc._id),
    subtitle: (doc) => doc.subtitle ?? null,
    description: (doc) => doc.description ?? null,
    pageCount: (doc) => doc.page_count ?? null,
    format: (doc) => doc.format ?? null,
    firstPublished: (doc) => doc.first_published ?? null,
    coverUrl: (doc) => doc.cover_url ?? null,
    genres: (doc) => doc.genres ?? [],
    authors: async (doc, _, ctx) =>
      (await ctx.loaders.author.loadMany(doc.author_ids ?? [])).filter((a) => a),
    ratingStats: (doc) => {
      const stats = doc.rating_stats ?? {}
      const counts = stats.counts ?? [0, 0, 0, 0, 0]
      const total = stats.count ?? 0
      return {
        average: total ? (stats.sum ?? 0) / total : 0,
        count: total,
        histogram: [5, 4, 3, 2, 1].map((stars) => ({
          stars,
          count: counts[stars - 1],
          percent: total ? Math.floor((counts[stars - 1] * 100) / total) : 0
        }))
      }
    },
    shelfCounts: (doc) => {
      const shelves = doc.shelf_counts ?? {}
      return {
        wantToRead: shelves.want_to_read ?? 0,
        currentlyReading: shelves.currently_reading ?? 0,
        read: shelves.read ?? 0
      }
    },
    reviewsCount: (doc) => doc.reviews_count ?? 0,
    reviews: async (doc, { first }, ctx) => {
      const size = Math.max(0, Math.min(first ?? 30, 100))
      const docs = await ctx.db.collection('reviews')
        .find({ book_id: doc._id, has_text: true })
        .sort(POPULAR.sort)
        .limit(size + 1)
        .toArray()
      const page = docs.slice(0, size)
      return {
        edges: page.map((review) => ({ cursor: cursorOf(review), node: review })),
        pageInfo: { hasNextPage: docs.length > size, endCursor: page.length ? cursorOf(page[page.length - 1]) : null }
      }
    },
    viewerReview: (doc, _, ctx) => (ctx.viewer ? ctx.loaders.viewerEntry.load(doc._id) : null)
  },
  Author: {
    id: (doc) => globalId('Author', doc._id),
    photoUrl: (doc) => doc.photo_url ?? null,
    booksCount: (doc) => doc.books_count ?? 0,
    followersCount: (doc) => doc.followers_count ?? 0
  },
  Review: {
    id: (doc) => globalId('Review', doc._id),
    rating: (doc) => doc.rating ?? null,
    text: (doc) => doc.text ?? null,
    spoiler: (doc) => Boolean(doc.spoiler),
    createdAt: (doc) => isoformat(doc.created_at),
    likesCount: (doc) => doc.likes_count ?? 0,
    commentsCount: (doc) => doc.comments_count ?? 0,
    shelf: (doc) => doc.shelf ?? null,
    user: (doc, _, ctx) => ctx.loaders.user.load(doc.user_id)
  },
  User: {
    id: (doc) => globalId('User', doc._id),
    displayName: (doc) => doc.display_name || doc.username,
    avatarUrl: (doc) => doc.avatar_url ?? null,
    reviewsCount: (doc) => doc.reviews_count ?? 0,
    followersCount: (doc) => doc.followers_count ?? 0,
    authoredBooksCount: (doc) => doc.authored_books_count ?? 0
  }
}

async function main () {
  const env = process.env
  const commands = {}
  const client = new MongoClient(env.MONGODB_URL, { monitorCommands: true })
  client.on('commandStarted', (event) => {
    commands[event.commandName] = (commands[event.commandName] ?? 0) + 1
  })
  await client.connect()
  const db = client.db(env.MONGODB_DB)
  const secret = env.JWT_SECRET

  const app = Fastify({ logger: false })
  app.register(mercurius, {
    schema,
    resolvers,
    jit: 1, // graphql-jit compiles a query at its first repeat
    context: (request) => {
      const viewer = viewerOf(request.headers.authorization, secret)
      return { db, viewer, loaders: loadersFor(db, viewer) }
    }
  })
  const responses = {}
  // Counted when the response is ready to send, as bench.app counts its own (a request wrk
  // abandons at the end of its window still counts on both sides).
  app.addHook('onSend', async (request, _, payload) => {
    const path = request.routeOptions.url
    responses[path] = (responses[path] ?? 0) + 1
    return payload
  })
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/bench/stats', async () => ({ pid: process.pid, variant: 'node', responses, commands }))
  app.get('/metrics', async (_, reply) => {
    reply.type('text/plain')
    return Object.entries(commands).map(([name, n]) => `mongodb_commands{command="${name}"} ${n}\n`).join('')
  })
  await app.listen({ host: env.HOST ?? '127.0.0.1', port: Number(env.PORT) })
  const stop = async () => { await app.close(); await client.close(); process.exit(0) }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((error) => { console.error(error); process.exit(1) })
