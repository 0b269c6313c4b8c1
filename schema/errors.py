"""Map every error to the contract's `extensions.code`; never leak a driver message or trace."""

import logging

from graphql import GraphQLError
from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.errors import ServiceError

log = logging.getLogger("bookservice.errors")

UNAVAILABLE = (
    ServerSelectionTimeoutError,
    ConnectionFailure,
    AutoReconnect,
    RedisConnectionError,
    RedisTimeoutError,
)


def classify(error: GraphQLError, request_id: str) -> None:
    """Rewrite `error` in place: message and extensions a client may see."""
    original = error.original_error
    if original is None or (
        isinstance(original, GraphQLError)
        and (error.path is None or original.original_error is None)
    ):
        # Parse, validation and variable-coercion errors: the client's document is at fault.
        # (graphql-core wraps a variable's coercion error in another GraphQLError, no path;
        # at a field's path it wraps its own refusal of an argument or directive value, such
        # as an explicit null for a variable whose default let it stand where null cannot.)
        error.extensions = {**(error.extensions or {}), "code": "BAD_USER_INPUT"}
        return
    if isinstance(original, ServiceError):
        error.message = original.message
        error.extensions = original.extensions
        return
    if isinstance(original, UNAVAILABLE):
        log.warning("request %s: backing service unavailable: %r", request_id, original)
        error.message = "the service is temporarily unavailable; try again shortly"
        error.extensions = {"code": "SERVICE_UNAVAILABLE", "requestId": request_id}
        return
    log.error("request %s: unexpected error", request_id, exc_info=original)
    error.message = f"internal error (request id {request_id})"
    error.extensions = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
