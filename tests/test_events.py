"""The event contract: one event per aggregate-changing mutation, appended to the Redis stream
after the source write; none for no-op repeats; the outbox emptied on success and kept while
Redis is down, then swept to the stream. Also pure tests of `Event` parsing."""

from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from redis.asyncio import Redis

from devtools.embedded import Servers, start_redis
from service.events import AggregateKind, Event, EventType, targets_of
from service.publisher import EventPublisher, sweep_outbox
from tests.support.app import AppUnderTest, GraphQLClient, app_settings, running_app
from tests.support.documents import gid, insert_author, insert_book, oid_of, quick_user
from tests.support.operations import (
    CLEAR,
    COMMENT,
    DELETE_COMMENT,
    DELETE_REVIEW,
    FOLLOW_AUTHOR,
    FOLLOW_USER,
    LIKE,
    RATE,
    SHELF,
    UNFOLLOW_AUTHOR,
    UNFOLLOW_USER,
    UNLIKE,
    WRITE,
)
from tests.support.snapshots import snapshot, stream_events

ENTRY_FIELDS = {"id", "type", "at", "user_id", "book_id"}
REVIEW_EDGE_FIELDS = {"id", "type", "at", "user_id", "review_id"}
FOLLOW_FIELDS = {"id", "type", "at", "user_id", "target_id", "target_kind"}


class StreamWatch:
    """The entries appended to the app's stream since the last look."""

    def __init__(self, app: AppUnderTest) -> None:
        self.app = app
        self.seen = 0
        self.ids: set[str] = set()

    async def new(self) -> list[dict[str, str]]:
        entries = await stream_events(self.app)
        fresh = [fields for _, fields in entries[self.seen :]]
        self.seen = len(entries)
        return fresh

    async def expect_one(self, kind: EventType, keys: set[str], **values: str) -> Event:
        fresh = await self.new()
        assert len(fresh) == 1, fresh
        fields = fresh[0]
        assert set(fields) == keys
        assert fields["type"] == kind.value
        for name, value in values.items():
            assert fields[name] == value, name
        assert len(fields["id"]) == 32
        int(fields["id"], 16)
        assert fields["id"] not in self.ids  # unique per event
        self.ids.add(fields["id"])
        assert datetime.fromisoformat(fields["at"]).tzinfo is not None
        assert await self.app.services.store.outbox.count_documents({}) == 0
        return Event.from_fields(fields)

    async def expect_none(self) -> None:
        assert await self.new() == []
        assert await self.app.services.store.outbox.count_documents({}) == 0


async def test_every_aggregate_changing_mutation_appends_one_event(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    watch = StreamWatch(app)
    book = await insert_book(app)
    author = await insert_author(app)
    me, my_gid = await quick_user(app)
    other, other_gid = await quick_user(app)
    b, u, o = str(book), str(oid_of(my_gid)), str(oid_of(other_gid))
    book_gid = gid("Book", book)

    await gql.data(RATE, {"b": book_gid, "s": 4}, me)
    await watch.expect_one(EventType.RATING_SET, ENTRY_FIELDS, user_id=u, book_id=b)
    await gql.data(CLEAR, {"b": book_gid}, me)
    await watch.expect_one(EventType.RATING_CLEARED, ENTRY_FIELDS, user_id=u, book_id=b)
    await gql.data(SHELF, {"b": book_gid, "s": "CURRENTLY_READING"}, me)
    await watch.expect_one(EventType.SHELF_SET, ENTRY_FIELDS, user_id=u, book_id=b)
    written = await gql.data(WRITE, {"i": {"bookId": book_gid, "text": "Good.", "rating": 5}}, me)
    await watch.expect_one(EventType.REVIEW_WRITTEN, ENTRY_FIELDS, user_id=u, book_id=b)
    review_gid = written["writeReview"]["id"]
    r = str(oid_of(review_gid))

    await gql.data(LIKE, {"r": review_gid}, other)
    await watch.expect_one(EventType.LIKE_ADDED, REVIEW_EDGE_FIELDS, user_id=o, review_id=r)
    await gql.data(UNLIKE, {"r": review_gid}, other)
    await watch.expect_one(EventType.LIKE_REMOVED, REVIEW_EDGE_FIELDS, user_id=o, review_id=r)
    comment = await gql.data(COMMENT, {"r": review_gid, "t": "Yes"}, other)
    await watch.expect_one(EventType.COMMENT_ADDED, REVIEW_EDGE_FIELDS, user_id=o, review_id=r)
    await gql.data(DELETE_COMMENT, {"id": comment["addComment"]["id"]}, other)
    await watch.expect_one(EventType.COMMENT_DELETED, REVIEW_EDGE_FIELDS, user_id=o, review_id=r)

    await gql.data(FOLLOW_USER, {"u": my_gid}, other)
    await watch.expect_one(
        EventType.FOLLOW_ADDED, FOLLOW_FIELDS, user_id=o, target_id=u, target_kind="user"
    )
    await gql.data(UNFOLLOW_USER, {"u": my_gid}, other)
    await watch.expect_one(
        EventType.FOLLOW_REMOVED, FOLLOW_FIELDS, user_id=o, target_id=u, target_kind="user"
    )
    await gql.data(FOLLOW_AUTHOR, {"a": gid("Author", author)}, me)
    await watch.expect_one(
        EventType.FOLLOW_ADDED,
        FOLLOW_FIELDS,
        user_id=u,
        target_id=str(author),
        target_kind="author",
    )
    await gql.data(UNFOLLOW_AUTHOR, {"a": gid("Author", author)}, me)
    await watch.expect_one(
        EventType.FOLLOW_REMOVED,
        FOLLOW_FIELDS,
        user_id=u,
        target_id=str(author),
        target_kind="author",
    )

    await gql.data(DELETE_REVIEW, {"id": review_gid}, me)
    await watch.expect_one(EventType.REVIEW_DELETED, ENTRY_FIELDS, user_id=u, book_id=b)

    # Stream entries come in the order of the mutations.
    types = [fields["type"] for _, fields in await stream_events(app)]
    assert types == [
        "rating.set",
        "rating.cleared",
        "shelf.set",
        "review.written",
        "like.added",
        "like.removed",
        "comment.added",
        "comment.deleted",
        "follow.added",
        "follow.removed",
        "follow.added",
        "follow.removed",
        "review.deleted",
    ]


async def test_deleting_a_review_appends_one_event_whatever_it_held(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    watch = StreamWatch(app)
    book = await insert_book(app)
    me, _ = await quick_user(app)
    other, _ = await quick_user(app)
    written = await gql.data(WRITE, {"i": {"bookId": gid("Book", book), "text": "Hm"}}, me)
    review = written["writeReview"]["id"]
    await gql.data(LIKE, {"r": review}, other)
    await gql.data(COMMENT, {"r": review, "t": "a"}, other)
    await watch.new()
    await gql.data(DELETE_REVIEW, {"id": review}, me)
    await watch.expect_one(EventType.REVIEW_DELETED, ENTRY_FIELDS, book_id=str(book))


async def test_repeats_that_change_nothing_append_no_event(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    watch = StreamWatch(app)
    book = await insert_book(app)
    author = await insert_author(app)
    me, _ = await quick_user(app)
    other, other_gid = await quick_user(app)
    written = await gql.data(WRITE, {"i": {"bookId": gid("Book", book), "text": "Hi"}}, other)
    review = written["writeReview"]["id"]

    await gql.data(LIKE, {"r": review}, me)
    await gql.data(FOLLOW_USER, {"u": other_gid}, me)
    await gql.data(FOLLOW_AUTHOR, {"a": gid("Author", author)}, me)
    await watch.new()
    for _ in range(2):
        await gql.data(LIKE, {"r": review}, me)
        await gql.data(FOLLOW_USER, {"u": other_gid}, me)
        await gql.data(FOLLOW_AUTHOR, {"a": gid("Author", author)}, me)
    await watch.expect_none()

    await gql.data(UNLIKE, {"r": review}, me)
    await gql.data(UNFOLLOW_USER, {"u": other_gid}, me)
    await gql.data(UNFOLLOW_AUTHOR, {"a": gid("Author", author)}, me)
    assert len(await watch.new()) == 3
    for _ in range(2):
        await gql.data(UNLIKE, {"r": review}, me)
        await gql.data(UNFOLLOW_USER, {"u": other_gid}, me)
        await gql.data(UNFOLLOW_AUTHOR, {"a": gid("Author", author)}, me)
    await watch.expect_none()


async def test_sign_up_and_log_in_append_no_event(app: AppUnderTest, gql: GraphQLClient) -> None:
    await gql.sign_up("eventless", password="long-enough")
    await gql.data('mutation { logIn(username: "eventless", password: "long-enough") { token } }')
    assert await stream_events(app) == []


async def test_events_are_appended_after_the_source_write(
    app: AppUnderTest, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At the moment of each XADD the change is already visible in MongoDB."""
    store = app.services.store
    book = await insert_book(app)
    me, my_gid = await quick_user(app)
    other, _ = await quick_user(app)
    seen: list[tuple[str, Any]] = []
    real_xadd = app.services.redis.xadd

    async def observing_xadd(name: Any, fields: dict[str, str], *args: Any, **kwargs: Any) -> Any:
        kind = fields["type"]
        if kind == "rating.set":
            entry = await store.reviews.find_one({"book_id": book})
            seen.append((kind, entry and entry["rating"]))
        elif kind == "like.added":
            seen.append((kind, await store.likes.count_documents({})))
        elif kind == "follow.added":
            seen.append((kind, await store.follows.count_documents({})))
        elif kind == "review.deleted":
            seen.append((kind, await store.reviews.count_documents({"book_id": book})))
        seen.append(("outbox", await store.outbox.count_documents({"_id": fields["id"]})))
        return await real_xadd(name, fields, *args, **kwargs)

    monkeypatch.setattr(app.services.redis, "xadd", observing_xadd)
    rated = await gql.data(RATE, {"b": gid("Book", book), "s": 2}, me)
    await gql.data(LIKE, {"r": rated["rateBook"]["id"]}, other)
    await gql.data(FOLLOW_USER, {"u": my_gid}, other)
    await gql.data(DELETE_REVIEW, {"id": rated["rateBook"]["id"]}, me)
    assert seen == [
        ("rating.set", 2),
        ("outbox", 1),  # the outbox entry is written first and outlives the write
        ("like.added", 1),
        ("outbox", 1),
        ("follow.added", 1),
        ("outbox", 1),
        ("review.deleted", 0),
        ("outbox", 1),
    ]
    assert await store.outbox.count_documents({}) == 0
    assert len(await stream_events(app)) == 4


async def test_a_failed_write_leaves_no_event_and_no_outbox_entry(app: AppUnderTest) -> None:
    publisher = app.services.publisher
    event = Event(type=EventType.RATING_SET, user_id=str(ObjectId()), book_id=str(ObjectId()))
    with pytest.raises(RuntimeError):
        async with publisher.change(event):
            assert await app.services.store.outbox.count_documents({"_id": event.id}) == 1
            raise RuntimeError("the source write failed")
    assert await app.services.store.outbox.count_documents({}) == 0
    assert await stream_events(app) == []


# --- Redis down during a mutation ------------------------------------------------------------


async def test_redis_down_keeps_the_event_in_the_outbox_until_swept(servers: Servers) -> None:
    private = start_redis(None)
    try:
        settings = app_settings(servers.mongodb_url, private.url)
        async with running_app(settings) as app:
            book = await insert_book(app)
            token, user_gid = await quick_user(app)
            private.stop()

            rated = await app.client.data(RATE, {"b": gid("Book", book), "s": 5}, token)
            assert rated["rateBook"]["rating"] == 5  # the mutation succeeds without Redis
            store = app.services.store
            assert await store.reviews.count_documents({"book_id": book, "rating": 5}) == 1
            kept = await store.outbox.find({}).to_list(None)
            assert len(kept) == 1
            fields = kept[0]["event"]
            assert fields["type"] == "rating.set"
            assert fields["book_id"] == str(book)
            assert fields["user_id"] == str(oid_of(user_gid))
            assert kept[0]["_id"] == fields["id"]

            replacement = start_redis(None)
            redis = Redis.from_url(replacement.url)
            try:
                publisher = EventPublisher(store, redis, settings.stream_key)
                assert await sweep_outbox(publisher, 0) == 1
                entries = await redis.xrange(settings.stream_key)
                assert len(entries) == 1
                landed = {k.decode(): v.decode() for k, v in entries[0][1].items()}
                assert landed == fields
                assert await store.outbox.count_documents({}) == 0
                # A second sweep has nothing left to publish.
                assert await sweep_outbox(publisher, 0) == 0
                assert await redis.xlen(settings.stream_key) == 1
            finally:
                await redis.aclose()
                replacement.stop()
    finally:
        private.stop()


async def test_sweep_waits_for_the_grace_period(app: AppUnderTest) -> None:
    """A fresh outbox entry may belong to a change still in flight: it is not re-published."""
    event = Event(type=EventType.SHELF_SET, user_id=str(ObjectId()), book_id=str(ObjectId()))
    await app.services.store.outbox.insert_one(
        {"_id": event.id, "event": event.to_fields(), "created_at": datetime.now(UTC)}
    )
    assert await sweep_outbox(app.services.publisher, 3600) == 0
    assert await app.services.store.outbox.count_documents({}) == 1
    assert await sweep_outbox(app.services.publisher, 0) == 1
    assert [f["id"] for _, f in await stream_events(app)] == [event.id]


async def test_sweep_drops_malformed_outbox_entries(app: AppUnderTest) -> None:
    before = await snapshot(app)
    await app.services.store.outbox.insert_one(
        {
            "_id": "broken",
            "event": {"type": "no.such.type"},
            "created_at": datetime.now(UTC),
        }
    )
    assert await sweep_outbox(app.services.publisher, 0) == 0
    assert await snapshot(app) == before


# --- Event parsing (pure) ------------------------------------------------------------------------

USER, BOOK, REVIEW, TARGET = (str(ObjectId()) for _ in range(4))
SAMPLES = [
    Event(type=EventType.RATING_SET, user_id=USER, book_id=BOOK),
    Event(type=EventType.RATING_CLEARED, user_id=USER, book_id=BOOK),
    Event(type=EventType.SHELF_SET, user_id=USER, book_id=BOOK),
    Event(type=EventType.REVIEW_WRITTEN, user_id=USER, book_id=BOOK),
    Event(type=EventType.REVIEW_DELETED, user_id=USER, book_id=BOOK),
    Event(type=EventType.LIKE_ADDED, user_id=USER, review_id=REVIEW),
    Event(type=EventType.LIKE_REMOVED, user_id=USER, review_id=REVIEW),
    Event(type=EventType.COMMENT_ADDED, user_id=USER, review_id=REVIEW),
    Event(type=EventType.COMMENT_DELETED, user_id=USER, review_id=REVIEW),
    Event(type=EventType.FOLLOW_ADDED, user_id=USER, target_id=TARGET, target_kind="user"),
    Event(type=EventType.FOLLOW_REMOVED, user_id=USER, target_id=TARGET, target_kind="author"),
]


def test_the_samples_cover_every_event_type() -> None:
    assert {e.type for e in SAMPLES} == set(EventType)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type.value)
def test_event_fields_round_trip(event: Event) -> None:
    fields = event.to_fields()
    assert all(isinstance(v, str) and v for v in fields.values())  # empty fields left out
    assert Event.from_fields(fields) == event
    # As redis-py returns them: bytes keys and values.
    raw = {k.encode(): v.encode() for k, v in fields.items()}
    assert Event.from_fields(raw) == event


def test_to_fields_leaves_out_the_empty_fields() -> None:
    fields = Event(
        type=EventType.LIKE_ADDED, user_id=USER, review_id=REVIEW, id="ab", at="t"
    ).to_fields()
    assert fields == {
        "id": "ab",
        "type": "like.added",
        "at": "t",
        "user_id": USER,
        "review_id": REVIEW,
    }


def test_targets_of_each_kind() -> None:
    assert targets_of(SAMPLES[0]) == {(AggregateKind.BOOK, BOOK), (AggregateKind.USER, USER)}
    assert targets_of(SAMPLES[5]) == {(AggregateKind.REVIEW, REVIEW)}
    assert targets_of(SAMPLES[9]) == {(AggregateKind.USER, USER), (AggregateKind.USER, TARGET)}
    assert targets_of(SAMPLES[10]) == {(AggregateKind.USER, USER), (AggregateKind.AUTHOR, TARGET)}


MALFORMED: dict[str, dict[str, Any]] = {
    "empty": {},
    "no-type": {"user_id": USER, "book_id": BOOK},
    "unknown-type": {"type": "rating.exploded", "user_id": USER, "book_id": BOOK},
    "entry-without-book": {"type": "rating.set", "user_id": USER},
    "entry-without-user": {"type": "shelf.set", "book_id": BOOK},
    "like-without-review": {"type": "like.added", "user_id": USER, "book_id": BOOK},
    "comment-without-review": {"type": "comment.deleted", "user_id": USER},
    "follow-without-target": {"type": "follow.added", "user_id": USER, "target_kind": "user"},
    "follow-without-user": {"type": "follow.removed", "target_id": TARGET, "target_kind": "user"},
    "follow-of-unknown-kind": {
        "type": "follow.added",
        "user_id": USER,
        "target_id": TARGET,
        "target_kind": "group",
    },
    "follow-without-kind": {"type": "follow.added", "user_id": USER, "target_id": TARGET},
    "bytes-unknown-type": {b"type": b"nope", b"user_id": USER.encode()},
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_entries_are_refused(case: str) -> None:
    with pytest.raises(ValueError):
        Event.from_fields(MALFORMED[case])
