"""Opaque global ids ("Book:<hex>" in URL-safe base64) and opaque keyset cursors."""

import base64
import binascii
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from bson import ObjectId
from bson.errors import InvalidId
from bson.tz_util import utc as bson_utc

from service.errors import BadUserInput

NODE_TYPES = ("Book", "Author", "User", "Review", "Comment")


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    padded = (text + "=" * (-len(text) % 4)).encode()
    return base64.b64decode(padded, altchars=b"-_", validate=True)


def to_global_id(type_name: str, oid: ObjectId) -> str:
    return _b64encode(f"{type_name}:{oid}".encode())


def parse_global_id(value: str) -> tuple[str, ObjectId]:
    """Type name and ObjectId of any global id; BadUserInput when it is not one of ours."""
    try:
        type_name, _, hex_id = _b64decode(value).decode().partition(":")
        if type_name in NODE_TYPES:
            return type_name, ObjectId(hex_id)
    except (binascii.Error, UnicodeDecodeError, InvalidId, ValueError, TypeError):
        pass
    raise BadUserInput(f"'{value}' is not a valid id")


def from_global_id(value: str, expected_type: str, field: str) -> ObjectId:
    """The ObjectId of a global id that must name `expected_type`."""
    try:
        type_name, oid = parse_global_id(value)
    except BadUserInput:
        type_name, oid = "", None
    if type_name != expected_type or oid is None:
        raise BadUserInput(f"{field}: '{value}' is not a valid {expected_type} id", field=field)
    return oid


# The zones the driver's datetimes come in (tz_aware): UTC, whose offset is known to be zero.
_UTC_ZONES = (bson_utc, UTC)
_EPOCH = datetime(1970, 1, 1)


def timestamp(value: datetime) -> float:
    """`value.timestamp()`, computed without its cost for UTC datetimes: an aware datetime's
    subtraction calls the zone's `utcoffset` (a Python method for bson's utc) on both sides;
    with the offset known to be zero, the naive difference is the same timedelta and so the
    same float (tests/test_ids.py pins that)."""
    if value.tzinfo in _UTC_ZONES:
        return (value.replace(tzinfo=None) - _EPOCH).total_seconds()
    return value.timestamp()


def _encode_key_value(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return {"o": str(value)}
    if isinstance(value, datetime):
        return {"d": timestamp(value)}
    return value


INT64 = range(-(2**63), 2**63)


def _decode_key_value(value: Any, expected: type) -> Any:
    """A sort-key value as `_encode_key_value` wrote it for a field holding `expected`; any
    other shape, type or range (a forged cursor) is a ValueError. Only the unique last key
    (an ObjectId) may not be null: a document may lack another sort field."""
    if value is None and expected is not ObjectId:
        return None
    is_dict = isinstance(value, dict)
    if expected is ObjectId and is_dict and value.keys() == {"o"} and isinstance(value["o"], str):
        return ObjectId(value["o"])  # InvalidId unless 24 hex digits
    if expected is datetime and is_dict and value.keys() == {"d"}:
        stamp = value["d"]
        if type(stamp) in (int, float) and math.isfinite(stamp):
            return datetime.fromtimestamp(stamp, UTC)  # OverflowError, OSError out of range
    if expected is int and type(value) is int and value in INT64:
        return value
    raise ValueError("bad cursor value")


def encode_cursor(kind: str, key: list[Any]) -> str:
    return _b64encode(orjson.dumps([kind, [_encode_key_value(v) for v in key]]))


def decode_cursor(cursor: str, kind: str, types: Sequence[type], field: str = "after") -> list[Any]:
    """The sort key stored in a cursor made for the same ordering `kind`, whose keys hold
    `types`: anything the API did not issue is BadUserInput, never a crash further on."""
    try:
        found_kind, values = orjson.loads(_b64decode(cursor))
        if found_kind == kind and isinstance(values, list) and len(values) == len(types):
            return [_decode_key_value(v, t) for v, t in zip(values, types, strict=True)]
    except (binascii.Error, ValueError, TypeError, OverflowError, OSError, InvalidId):
        pass  # orjson.JSONDecodeError and UnicodeDecodeError are ValueErrors
    raise BadUserInput(f"{field}: '{cursor}' is not a valid cursor for this list", field=field)
