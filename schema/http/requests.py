"""Reading a GraphQL-over-HTTP request: the body is read and decoded once, and its shape is
checked before anything runs (Strawberry's view assumed objects and strings and failed with
500s; graphql-http's audit and the hostile-input tests pin what is refused and how)."""

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from schema.http.responses import RequestRefused
from service.errors import BadUserInput

# The members of one request object and the JSON types each may have (null is always allowed).
_MEMBERS: dict[str, type] = {
    "query": str,
    "operationName": str,
    "variables": dict,
    "extensions": dict,
}
_JSON_ENCODED_PARAMETERS = ("variables", "extensions")


@dataclass(frozen=True, slots=True)
class OperationRequest:
    """One operation of a request, as the client sent it."""

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


def _refused(message: str, status: int = 400, field: str | None = None) -> RequestRefused:
    return RequestRefused(status, BadUserInput(message, field=field))


def _operation(item: object) -> OperationRequest:
    if not isinstance(item, dict):
        raise _refused("the body must be a JSON object or a list of JSON objects")
    for member, kind in _MEMBERS.items():
        value = item.get(member)
        if value is not None and not isinstance(value, kind):
            expected = "a string" if kind is str else "an object"
            raise _refused(f"`{member}` must be {expected} or null, if provided", field=member)
    return OperationRequest(
        query=item.get("query"),
        variables=item.get("variables"),
        operation_name=item.get("operationName"),
        extensions=item.get("extensions"),
    )


def _from_query_string(request: Request) -> dict[str, Any]:
    params = request.query_params
    item: dict[str, Any] = {
        "query": params.get("query"),
        "operationName": params.get("operationName"),
    }
    for name in _JSON_ENCODED_PARAMETERS:
        raw = params.get(name)
        if raw:
            try:
                item[name] = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise _refused(f"`{name}` must be a JSON-encoded object", field=name) from None
    return item


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def _from_body(request: Request) -> Any:
    content_type = request.headers.get("content-type")
    if not content_type or not _is_json(content_type):
        missing = "" if content_type else " (the request has no Content-Type)"
        raise _refused(f"send the request as JSON: Content-Type: application/json{missing}", 415)
    body = await request.body()
    if not body:
        raise _refused("the request body is empty: send a JSON object with a `query`")
    try:
        # orjson refuses invalid UTF-8, lone surrogates, NaN and nesting deeper than 1024.
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _refused("the request body is not valid JSON") from None


async def read_operations(
    request: Request, max_operations: int
) -> tuple[list[OperationRequest], bool]:
    """The operations of a GET or POST request, and whether it was a batch (a JSON list)."""
    data = _from_query_string(request) if request.method == "GET" else await _from_body(request)
    if not isinstance(data, list):
        return [_operation(data)], False
    if not data:
        raise _refused("a batch must hold at least one operation")
    if len(data) > max_operations:
        raise _refused(f"Too many operations in one batch: {len(data)} (at most {max_operations})")
    return [_operation(item) for item in data], True
