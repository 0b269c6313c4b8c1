"""The event contract: one event per aggregate-changing mutation, appended to the Redis stream
after the source write, as a CloudEvents envelope whose `data` holds the change (exact values
below; contract/events.asyncapi.yaml is checked for every appended event by conftest); none for
no-op repeats; the outbox emptied on success, kept while Redis is down (then holding the
completed event), and swept to the stream. Also pure tests of `Event` parsing, old entries
included."""

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from redis.asyncio import Redis

from devtools.embedded import Servers, start_redis
from service.events import AggregateKind, Event, EventType, is_legacy, targets_of
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

ENVELOPE = {
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "subject",
    "datacontenttype",
    "dataversion",
    "data",
}


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

    async def expect_one(self, kind: EventType, subject: str, data: dict[str, Any]) -> Event:
        fresh = await self.new()
        assert len(fresh) == 1, fresh
        fields = fresh[0]
        assert set(fields) == ENVELOPE
        assert {k: fields[k] for k in ENVELOPE - {"id", "time", "data"}} == {
            "specversion": "1.0",
            "source": "/bookservice/api",
            "type": kind.value,
            "subject": subject,
            "datacontenttype": "application/json",
            "dataversion": "1",
        }
        assert json.loads(fields["data"]) == data
        assert len(fields["id"]) == 32
        int(fields["id"], 16)
        assert fields["id"] not in self.ids  # unique per event
        self.ids.add(fields["id"])
        assert datetime.fromisoformat(fields["time"]).tzinfo is not None
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

    entry = {"userId": u, "bookId": b}
    on_book = f"books/{b}"

    await gql.data(RATE, {"b": book_gid, "s": 4}, me)
    await watch.expect_one(EventType.RATING_SET, on_book, entry | {"stars": 4, "previous": None})
    await gql.data(RATE, {"b": book_gid, "s": 2}, me)
    rated = {"shelf": "READ", "stars": 4, "hasText": False}
    await watch.expect_one(EventType.RATING_SET, on_book, entry | {"stars": 2, "previous": rated})
    await gql.data(CLEAR, {"b": book_gid}, me)
    rated = {"shelf": "READ", "stars": 2, "hasText": False}
    await watch.expect_one(EventType.RATING_CLEARED, on_book, entry | {"previous": rated})
    await gql.data(SHELF, {"b": book_gid, "s": "CURRENTLY_READING"}, me)
    shelved = {"shelf": "READ", "stars": None, "hasText": False}
    await watch.expect_one(
        EventType.SHELF_SET, on_book, entry | {"shelf": "CURRENTLY_READING", "previous": shelved}
    )
    written = await gql.data(WRITE, {"i": {"bookId": book_gid, "text": "Good.", "rating": 5}}, me)
    reading = {"shelf": "CURRENTLY_READING", "stars": None, "hasText": False}
    await watch.expect_one(
        EventType.REVIEW_WRITTEN,
        on_book,
        entry | {"hasText": True, "spoiler": False, "stars": 5, "previous": reading},
    )
    review_gid = written["writeReview"]["id"]
    r = str(oid_of(review_gid))
    on_review = f"reviews/{r}"
    like = {"userId": o, "bookId": b, "reviewId": r, "reviewOwnerId": u}

    await gql.data(LIKE, {"r": review_gid}, other)
    await watch.expect_one(EventType.LIKE_ADDED, on_review, like)
    await gql.data(UNLIKE, {"r": review_gid}, other)
    await watch.expect_one(EventType.LIKE_REMOVED, on_review, like)
    comment = await gql.data(COMMENT, {"r": review_gid, "t": "Yes"}, other)
    c = str(oid_of(comment["addComment"]["id"]))
    await watch.expect_one(EventType.COMMENT_ADDED, on_review, like | {"commentId": c})
    await gql.data(DELETE_COMMENT, {"id": comment["addComment"]["id"]}, other)
    await watch.expect_one(
        EventType.COMMENT_DELETED, on_review, {"userId": o, "reviewId": r, "commentId": c}
    )

    followed = {"userId": o, "targetId": u, "targetKind": "user"}
    await gql.data(FOLLOW_USER, {"u": my_gid}, other)
    await watch.expect_one(EventType.FOLLOW_ADDED, f"users/{u}", followed)
    await gql.data(UNFOLLOW_USER, {"u": my_gid}, other)
    await watch.expect_one(EventType.FOLLOW_REMOVED, f"users/{u}", followed)
    followed = {"userId": u, "targetId": str(author), "targetKind": "author"}
    await gql.data(FOLLOW_AUTHOR, {"a": gid("Author", author)}, me)
    await watch.expect_one(EventType.FOLLOW_ADDED, f"authors/{author}", followed)
    await gql.data(UNFOLLOW_AUTHOR, {"a": gid("Author", author)}, me)
    await watch.expect_one(EventType.FOLLOW_REMOVED, f"authors/{author}", followed)

    await gql.data(DELETE_REVIEW, {"id": review_gid}, me)
    reviewed = {"shelf": "CURRENTLY_READING", "stars": 5, "hasText": True}
    await watch.expect_one(EventType.REVIEW_DELETED, on_book, entry | {"previous": reviewed})

    # Stream entries come in the order of the mutations.
    types = [fields["type"] for _, fields in await stream_events(app)]
    assert types == [
        "rating.set",
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
    me, my_gid = await quick_user(app)
    other, _ = await quick_user(app)
    written = await gql.data(WRITE, {"i": {"bookId": gid("Book", book), "text": "Hm"}}, me)
    review = written["writeReview"]["id"]
    await gql.data(LIKE, {"r": review}, other)
    await gql.data(COMMENT, {"r": review, "t": "a"}, other)
    await watch.new()
    await gql.data(DELETE_REVIEW, {"id": review}, me)
    await watch.expect_one(
        EventType.REVIEW_DELETED,
        f"books/{book}",
        {
            "userId": str(oid_of(my_gid)),
            "bookId": str(book),
            "previous": {"shelf": "READ", "stars": None, "hasText": True},
        },
    )


async def test_entry_events_say_when_there_was_no_entry_and_when_one_went_away(
    app: AppUnderTest, gql: GraphQLClient
) -> None:
    """`previous` is null when the reader had no entry; an entry left empty is deleted (its
    event's `previous` and change say so: nothing is left)."""
    watch = StreamWatch(app)
    book = await insert_book(app)
    me, my_gid = await quick_user(app)
    entry = {"userId": str(oid_of(my_gid)), "bookId": str(book)}
    book_gid = gid("Book", book)

    assert (await gql.data(CLEAR, {"b": book_gid}, me))["clearRating"] is None
    await watch.expect_one(EventType.RATING_CLEARED, f"books/{book}", entry | {"previous": None})
    await gql.data(SHELF, {"b": book_gid, "s": "WANT_TO_READ"}, me)
    await watch.expect_one(
        EventType.SHELF_SET, f"books/{book}", entry | {"shelf": "WANT_TO_READ", "previous": None}
    )
    assert (await gql.data(SHELF, {"b": book_gid, "s": None}, me))["setShelf"] is None
    wanted = {"shelf": "WANT_TO_READ", "stars": None, "hasText": False}
    await watch.expect_one(
        EventType.SHELF_SET, f"books/{book}", entry | {"shelf": None, "previous": wanted}
    )
    assert await app.services.store.reviews.count_documents({"book_id": book}) == 0
    written = {"hasText": True, "spoiler": True, "previous": None}
    await gql.data(WRITE, {"i": {"bookId": book_gid, "text": "No stars.", "spoiler": True}}, me)
    await watch.expect_one(EventType.REVIEW_WRITTEN, f"books/{book}", entry | written)


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
            # The write happened: the entry now holds the completed event, confirmed.
            fields = kept[0]["event"]
            assert kept[0]["confirmed"] is True
            assert kept[0]["_id"] == fields["id"]
            assert fields["type"] == "rating.set"
            assert "recovered" not in fields
            assert json.loads(fields["data"]) == {
                "userId": str(oid_of(user_gid)),
                "bookId": str(book),
                "stars": 5,
                "previous": None,
            }

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


def outbox_entry(fields: dict[str, str], **more: Any) -> dict[str, Any]:
    return {"_id": fields["id"], "event": fields, "created_at": datetime.now(UTC), **more}


async def test_sweep_waits_for_the_grace_period(app: AppUnderTest) -> None:
    """A fresh outbox entry may belong to a change still in flight: it is not re-published.
    One that was never confirmed goes out marked `recovered`: its change may not have
    happened, and it lacks what only the write knew (`previous`)."""
    event = Event(
        type=EventType.SHELF_SET,
        user_id=str(ObjectId()),
        book_id=str(ObjectId()),
        change={"shelf": "READ"},
    )
    await app.services.store.outbox.insert_one(outbox_entry(event.to_fields()))
    assert await sweep_outbox(app.services.publisher, 3600) == 0
    assert await app.services.store.outbox.count_documents({}) == 1
    assert await sweep_outbox(app.services.publisher, 0) == 1
    [(_, landed)] = await stream_events(app)
    assert landed == replace(event, recovered=True).to_fields()
    assert landed["recovered"] == "true" and landed["id"] == event.id
    assert json.loads(landed["data"]) == {
        "userId": event.user_id,
        "bookId": event.book_id,
        "shelf": "READ",
    }


async def test_sweep_republishes_entries_recorded_before_version_1_as_they_were(
    app: AppUnderTest,
) -> None:
    """An outbox written before the upgrade holds flat fields: they go out unchanged (the
    contract's legacy entry), and a worker of this version applies them."""
    legacy = {
        "id": "0123456789abcdef0123456789abcdef",
        "type": "rating.set",
        "at": "2025-12-31T23:59:59+00:00",
        "user_id": str(ObjectId()),
        "book_id": str(ObjectId()),
    }
    await app.services.store.outbox.insert_one(outbox_entry(legacy))
    assert await sweep_outbox(app.services.publisher, 0) == 1
    [(_, landed)] = await stream_events(app)
    assert landed == legacy
    assert is_legacy(landed)
    assert await app.services.store.outbox.count_documents({}) == 0


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

USER, BOOK, REVIEW, TARGET, COMMENT_ID = (str(ObjectId()) for _ in range(5))
WAS = {"shelf": "READ", "stars": 3, "hasText": False}


def review_event(kind: EventType, **change: str) -> Event:
    return Event(kind, USER, BOOK, REVIEW, change={"reviewOwnerId": TARGET, **change})


SAMPLES = [
    Event(EventType.RATING_SET, USER, BOOK, change={"stars": 4, "previous": WAS}),
    Event(EventType.RATING_CLEARED, USER, BOOK, change={"previous": None}),
    Event(EventType.SHELF_SET, USER, BOOK, change={"shelf": None, "previous": WAS}),
    Event(EventType.REVIEW_WRITTEN, USER, BOOK, change={"hasText": True, "spoiler": False}),
    Event(EventType.REVIEW_DELETED, USER, BOOK, change={"previous": WAS}),
    review_event(EventType.LIKE_ADDED),
    review_event(EventType.LIKE_REMOVED),
    review_event(EventType.COMMENT_ADDED, commentId=COMMENT_ID),
    Event(EventType.COMMENT_DELETED, USER, review_id=REVIEW, change={"commentId": COMMENT_ID}),
    Event(EventType.FOLLOW_ADDED, USER, target_id=TARGET, target_kind="user"),
    Event(EventType.FOLLOW_REMOVED, USER, target_id=TARGET, target_kind="author", recovered=True),
]


def test_the_samples_cover_every_event_type() -> None:
    assert {e.type for e in SAMPLES} == set(EventType)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type.value)
def test_event_fields_round_trip(event: Event) -> None:
    fields = event.to_fields()
    assert all(isinstance(v, str) and v for v in fields.values())
    assert Event.from_fields(fields) == event
    # As redis-py returns them: bytes keys and values.
    raw = {k.encode(): v.encode() for k, v in fields.items()}
    assert Event.from_fields(raw) == event


def test_to_fields_is_a_cloudevent_in_binary_mode() -> None:
    event = replace(review_event(EventType.LIKE_ADDED), id="ab", at="2026-01-02T03:04:05+00:00")
    fields = event.to_fields()
    assert fields == {
        "specversion": "1.0",
        "id": "ab",
        "source": "/bookservice/api",
        "type": "like.added",
        "time": "2026-01-02T03:04:05+00:00",
        "subject": f"reviews/{REVIEW}",
        "datacontenttype": "application/json",
        "dataversion": "1",
        "data": json.dumps(
            {"userId": USER, "bookId": BOOK, "reviewId": REVIEW, "reviewOwnerId": TARGET},
            separators=(",", ":"),
        ),
    }


def test_entries_from_before_version_1_are_read() -> None:
    """Flat fields, as the stream and the outbox held them before the envelope."""
    legacy = {
        "id": "ab",
        "type": "follow.added",
        "at": "2025-01-01T00:00:00+00:00",
        "user_id": USER,
        "target_id": TARGET,
        "target_kind": "author",
    }
    assert Event.from_fields(legacy) == Event(
        EventType.FOLLOW_ADDED,
        USER,
        target_id=TARGET,
        target_kind="author",
        id="ab",
        at="2025-01-01T00:00:00+00:00",
    )
    assert Event.from_fields({k.encode(): v.encode() for k, v in legacy.items()}).id == "ab"


def test_targets_of_each_kind() -> None:
    assert targets_of(SAMPLES[0]) == {(AggregateKind.BOOK, BOOK), (AggregateKind.USER, USER)}
    assert targets_of(SAMPLES[5]) == {(AggregateKind.REVIEW, REVIEW)}
    assert targets_of(SAMPLES[9]) == {(AggregateKind.USER, USER), (AggregateKind.USER, TARGET)}
    assert targets_of(SAMPLES[10]) == {(AggregateKind.USER, USER), (AggregateKind.AUTHOR, TARGET)}


def envelope(kind: str, data: Any) -> dict[str, str]:
    """A version-1 entry with `data` as given (a string is taken as the JSON text)."""
    text = data if isinstance(data, str) else json.dumps(data)
    return {"specversion": "1.0", "id": "ab", "type": kind, "time": "t", "data": text}


MALFORMED: dict[str, dict[Any, Any]] = {
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
    "v1-without-data": {"specversion": "1.0", "type": "rating.set", "id": "ab"},
    "v1-data-not-json": envelope("rating.set", "{userId: 1"),
    "v1-data-not-an-object": envelope("rating.set", [USER, BOOK]),
    "v1-id-not-a-string": envelope("rating.set", {"userId": 7, "bookId": BOOK, "stars": 1}),
    "v1-without-book": envelope("rating.set", {"userId": USER, "stars": 1}),
    "v1-unknown-type": envelope("rating.exploded", {"userId": USER, "bookId": BOOK}),
    "v1-ids-as-flat-fields": envelope("rating.set", {}) | {"user_id": USER, "book_id": BOOK},
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_entries_are_refused(case: str) -> None:
    with pytest.raises(ValueError):
        Event.from_fields(MALFORMED[case])
