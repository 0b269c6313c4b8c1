"""contract/events.asyncapi.yaml, the event stream's machine-readable contract: it describes
every event type the code has, its examples match its own schemas, and the checker that
conftest runs on every event appended in the suite names the type and the field of an event
that departs from it (and sees the events the API appends)."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId

from service.events import Event, EventType
from tests.support.app import AppUnderTest, GraphQLClient
from tests.support.documents import gid, insert_book, quick_user
from tests.support.event_contract import CONTRACT, LEGACY
from tests.support.operations import RATE

USER, BOOK = str(ObjectId()), str(ObjectId())


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_the_document_describes_every_event_type() -> None:
    document = CONTRACT.document
    assert document["asyncapi"] == "3.0.0"
    assert set(CONTRACT.messages) == {kind.value for kind in EventType} | {LEGACY}
    channel = document["channels"]["events"]
    assert set(channel["messages"]) == set(document["components"]["messages"])
    by_channel = {f"#/channels/events/messages/{key}" for key in channel["messages"]}
    legacy = "#/channels/events/messages/legacyEntry"
    operations = document["operations"]
    assert (operations["publish"]["action"], operations["consume"]["action"]) == (
        "send",
        "receive",
    )
    assert {m["$ref"] for m in operations["publish"]["messages"]} == by_channel - {legacy}
    assert {m["$ref"] for m in operations["consume"]["messages"]} == by_channel
    for ref in set(refs(document)):  # every reference resolves
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


def test_the_examples_match_their_messages() -> None:
    examples = CONTRACT.examples()
    assert examples
    for name, example in examples:
        fields = example["headers"]
        assert fields["type"] == name
        assert json.loads(fields["data"]) == example["payload"]
        assert CONTRACT.violation(fields) is None


def rating(**change: Any) -> dict[str, str]:
    return Event(EventType.RATING_SET, USER, BOOK, change=change).to_fields()


DEPARTURES = {
    "stars out of range": (
        rating(stars=6, previous=None),
        "rating.set: data.stars: 6 is greater than the maximum of 5",
    ),
    "stars missing": (
        rating(previous=None),
        "rating.set: data: 'stars' is a required property",
    ),
    "a member the contract does not declare": (
        rating(stars=3, mood="happy"),
        "rating.set: data.mood is not in the contract",
    ),
    "a nested member the contract does not declare": (
        rating(stars=3, previous={"shelf": "READ", "stars": 2, "hasText": False, "x": 1}),
        "rating.set: data.previous.x is not in the contract",
    ),
    "a field missing": (
        {k: v for k, v in rating(stars=3).items() if k != "subject"},
        "rating.set: entry: 'subject' is a required property",
    ),
    "a field the contract does not declare": (
        rating(stars=3) | {"priority": "high"},
        "rating.set: field priority is not in the contract",
    ),
    "subject of another kind": (
        rating(stars=3) | {"subject": f"reviews/{BOOK}"},
        f"rating.set: field subject: 'reviews/{BOOK}' does not match '^books/[0-9a-f]{{24}}$'",
    ),
    "unknown type": (
        rating(stars=3) | {"type": "rating.exploded"},
        "rating.exploded: no message of this type in events.asyncapi.yaml",
    ),
    "not all strings": (
        {**rating(stars=3), "dataversion": 1},
        "rating.set: every field of a stream entry is a string",
    ),
    "legacy entry with a bad id": (
        {"id": "x", "type": "rating.set", "user_id": "nope"},
        "rating.set: field user_id: 'nope' does not match '^[0-9a-f]{24}$'",
    ),
}


@pytest.mark.parametrize("case", list(DEPARTURES))
def test_a_departing_event_is_named_by_its_type_and_field(case: str) -> None:
    fields, expected = DEPARTURES[case]
    assert CONTRACT.violation(fields) == expected


def test_events_as_the_code_builds_them_match() -> None:
    assert CONTRACT.violation(rating(stars=3, previous=None)) is None
    legacy = {"id": "x", "type": "like.added", "at": "t", "user_id": USER, "review_id": BOOK}
    assert CONTRACT.violation(legacy) is None


async def test_the_check_sees_what_the_api_appends(
    app: AppUnderTest, gql: GraphQLClient, appended_events: list[dict[str, str]]
) -> None:
    book = await insert_book(app)
    token, _ = await quick_user(app)
    before = len(appended_events)
    await gql.data(RATE, {"b": gid("Book", book), "s": 3}, token)
    [fields] = appended_events[before:]
    assert fields["type"] == "rating.set"
    assert json.loads(fields["data"])["stars"] == 3
