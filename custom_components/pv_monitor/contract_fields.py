"""The field readers of the contract's parsers (contract.py, contract_points.py): a payload's size and
encoding, JSON objects, and typed fields that raise `InvalidPayload` with one message naming the field."""

from __future__ import annotations

import json
import math
import re
from typing import Any, TypeIs

from .messages import MAX_PAYLOAD_BYTES, PLATFORM_KINDS, POINT_KINDS, EntityPlatform, PointKind


class InvalidPayload(ValueError):
    """A payload does not follow the contract; the message names what is wrong."""


# ---------------------------------------------------------------------------------------------- helpers


def decode_text(payload: str | bytes | bytearray, limit: int = MAX_PAYLOAD_BYTES) -> str:
    """The payload as text, at most `limit` bytes of UTF-8."""
    if len(payload) > limit:
        raise InvalidPayload(f"payload of {len(payload)} bytes is larger than {limit} bytes")
    if isinstance(payload, bytes | bytearray):
        try:
            return bytes(payload).decode("utf-8")
        except UnicodeDecodeError as err:
            raise InvalidPayload(f"payload is not UTF-8: {err}") from err
    return payload


def load_json_object(payload: str | bytes | bytearray, limit: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """Decode a JSON object payload of at most `limit` bytes."""
    text = decode_text(payload, limit)
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InvalidPayload(f"payload is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise InvalidPayload(f"payload is a JSON {type(data).__name__}, expected an object")
    return data


def is_point_kind(value: object) -> TypeIs[PointKind]:
    return isinstance(value, str) and value in POINT_KINDS


def is_platform(value: object) -> TypeIs[EntityPlatform]:
    return isinstance(value, str) and value in PLATFORM_KINDS


def is_number(value: object) -> TypeIs[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_str(data: dict[str, Any], key: str, where: str, *, required: bool, max_len: int = 100) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidPayload(f"{where}: missing '{key}'")
        return None
    if not isinstance(value, str) or (required and not value) or len(value) > max_len:
        raise InvalidPayload(f"{where}.{key}: {value!r} is not a string of at most {max_len} characters")
    return value


def read_number(data: dict[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if not is_number(value):
        raise InvalidPayload(f"{where}.{key}: {value!r} is not a number")
    return value


def read_precision(data: dict[str, Any], key: str, where: str) -> int | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10):
        raise InvalidPayload(f"{where}.{key}: {value!r} is not an integer 0..10")
    return value


def read_choice(data: dict[str, Any], key: str, where: str, allowed: frozenset[str]) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise InvalidPayload(f"{where}.{key}: {value!r} is not one of {', '.join(sorted(allowed))}")
    return value


def read_object(data: object, where: str) -> dict[str, Any]:
    """`data` as a JSON object, else `InvalidPayload` naming `where`."""
    if not isinstance(data, dict):
        raise InvalidPayload(f"{where}: {data!r} is not an object")
    return data


def read_id(data: dict[str, Any], key: str, where: str, pattern: re.Pattern[str]) -> str:
    """The identifier `data[key]` (an id or a point key), which must match `pattern`."""
    value = data.get(key)
    if not isinstance(value, str) or not pattern.match(value):
        raise InvalidPayload(f"{where}.{key}: {value!r} does not match {pattern.pattern}")
    return value
