"""The served schema keeps the public contract (contract/schema.graphql, a verbatim copy of
the shared contract): the project may add to it but never break it."""

from pathlib import Path
from typing import Any

from graphql import (
    GraphQLSchema,
    build_client_schema,
    build_schema,
    get_introspection_query,
    print_schema,
)
from graphql.utilities import (
    DangerousChangeType,
    find_breaking_changes,
    find_dangerous_changes,
)

from schema.definition import build_schema as build_service_schema
from tests.support.app import AppUnderTest

CONTRACT_PATH = Path(__file__).resolve().parent.parent / "contract" / "schema.graphql"


def contract() -> GraphQLSchema:
    return build_schema(CONTRACT_PATH.read_text(encoding="utf-8"))


def printed_service_schema() -> GraphQLSchema:
    return build_schema(build_service_schema().as_str())


def describe(changes: list[Any]) -> str:
    return "\n".join(f"{c.type.name}: {c.description}" for c in changes)


def test_the_contract_file_is_the_contract() -> None:
    text = CONTRACT_PATH.read_text(encoding="utf-8")
    assert "type Query" in text and "type Mutation" in text and "type Subscription" in text
    assert len(contract().type_map) > 30


def test_printed_schema_has_no_breaking_change_against_the_contract() -> None:
    changes = find_breaking_changes(contract(), printed_service_schema())
    assert changes == [], describe(changes)


def test_no_contract_default_value_changed() -> None:
    # Additions (enum values, optional arguments) are allowed; a changed default (say `first`)
    # would silently change what existing clients get.
    changed_defaults = [
        c
        for c in find_dangerous_changes(contract(), printed_service_schema())
        if c.type
        in (
            DangerousChangeType.ARG_DEFAULT_VALUE_CHANGE,
            DangerousChangeType.INPUT_FIELD_DEFAULT_VALUE_CHANGE,
        )
    ]
    assert changed_defaults == [], describe(changed_defaults)


async def test_served_schema_has_no_breaking_change_against_the_contract(
    app: AppUnderTest,
) -> None:
    introspection = await app.client.data(get_introspection_query(descriptions=False))
    served = build_client_schema(introspection)  # type: ignore[arg-type]
    changes = find_breaking_changes(contract(), served)
    assert changes == [], describe(changes)


def test_the_check_detects_a_breaking_change() -> None:
    # The comparison is not vacuous: removing a contract field or changing a type is caught.
    text = print_schema(printed_service_schema())
    broken = build_schema(text.replace("  reviewsCount: Int!\n", "", 1))
    retyped = build_schema(text.replace("  pageCount: Int\n", "  pageCount: String\n", 1))
    assert any("reviewsCount" in c.description for c in find_breaking_changes(contract(), broken))
    assert any("pageCount" in c.description for c in find_breaking_changes(contract(), retyped))


def test_every_contract_type_and_field_is_served() -> None:
    served = printed_service_schema()
    for name, contract_type in contract().type_map.items():
        if name.startswith("__"):
            continue
        assert name in served.type_map, name
        fields = getattr(contract_type, "fields", None)
        if fields:
            assert set(fields) <= set(served.type_map[name].fields), name  # type: ignore[attr-defined]
