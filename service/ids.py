"""Opaque global ids ("Book:<hex>" in URL-safe base64) and opaque keyset cursors."""

import base64
import binascii
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


def _decode_key_value(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        if "o" in value:
            return ObjectId(value["o"])
        if "d" in value:
            return datetime.fromtimestamp(value["d"], UTC)
    if value is None or isinstance(value, int | float | str):
        return value
    raise ValueError("bad cursor value")


def encode_cursor(kind: str, key: list[Any]) -> str:
    return _b64encode(orjson.dumps([kind, [_encode_key_value(v) for v in key]]))


def decode_cursor(cursor: str, kind: str, length: int, field: str = "after") -> list[Any]:
    """The sort key stored in a cursor made for the same ordering `kind`."""
    try:
        found_kind, values = orjson.loads(_b64decode(cursor))
        if found_kind == kind and isinstance(values, list) and len(values) == length:
            return [_decode_key_value(v) for v in values]
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError, InvalidId):
        pass
    raise BadUserInput(f"{field}: '{cursor}' is not a valid cursor for this list", field=field)
