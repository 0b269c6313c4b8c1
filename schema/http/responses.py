"""The JSON bodies of transport-level refusals: even a request that never reached GraphQL
gets a GraphQL-shaped error a client can read (`errors[].extensions.code`)."""

from typing import Any

import orjson
from starlette.responses import Response

from service.errors import ServiceError

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"


class JSONBody(Response):
    """orjson-encoded JSON: the same bytes for the same data, without json.dumps' cost."""

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str = JSON,
    ) -> None:
        super().__init__(orjson.dumps(content), status_code, headers, media_type)


def error_body(error: ServiceError, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"errors": [{"message": error.message, "extensions": error.extensions}]}
    if request_id is not None:
        body["extensions"] = {"requestId": request_id}
    return body


class RequestRefused(Exception):
    """A request refused before execution: its HTTP status and the error a client reads."""

    def __init__(
        self, status: int, error: ServiceError, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error
        self.headers = headers or {}

    def response(self, media_type: str = JSON, request_id: str | None = None) -> Response:
        headers = dict(self.headers)
        if request_id is not None:
            headers["x-request-id"] = request_id
        return JSONBody(error_body(self.error, request_id), self.status, headers, media_type)
