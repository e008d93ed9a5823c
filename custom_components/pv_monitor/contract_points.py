"""The announcement's points as the integration reads them (docs/mqtt-contract.md `$defs/point`): a point,
what may be written to it, and the entity it becomes (announced by the collector, or for a collector before
0.2.0 the one compatibility rule `entity_of_collector_before_0_2`)."""

from __future__ import annotations

from typing import Any, Final

from .contract_fields import (
    InvalidPayload,
    is_platform,
    is_point_kind,
    read_choice,
    read_id,
    read_number,
    read_object,
    read_precision,
    read_str,
)
from .messages import (
    CATEGORIES,
    COMMAND_PLATFORMS,
    KEY_PATTERN,
    NAME_PATTERN,
    PLATFORM_KINDS,
    POINT_KINDS,
    ROLES,
    STATE_CLASSES,
    EntityDef,
    EntityPlatform,
    PointDef,
    PointKind,
    WritableDef,
)


def parse_writable(data: object, kind: str, where: str) -> WritableDef:
    """Parse a point's `writable` object."""
    data = read_object(data, f"{where}.writable")
    writable = WritableDef(
        min=read_number(data, "min", f"{where}.writable"),
        max=read_number(data, "max", f"{where}.writable"),
        step=read_number(data, "step", f"{where}.writable"),
    )
    if kind == "number":
        if writable.min is None or writable.max is None:
            raise InvalidPayload(f"{where}.writable: a writable number needs 'min' and 'max'")
        if writable.min > writable.max:
            raise InvalidPayload(f"{where}.writable: min {writable.min} is larger than max {writable.max}")
    if writable.step is not None and writable.step <= 0:
        raise InvalidPayload(f"{where}.writable.step: {writable.step} is not larger than 0")
    return writable


def _device_class(data: dict[str, Any], where: str) -> str | None:
    device_class = data.get("device_class")
    if device_class is not None and (not isinstance(device_class, str) or not device_class):
        raise InvalidPayload(f"{where}.device_class: {device_class!r} is not a device class name")
    return device_class


def parse_entity(
    data: object,
    where: str,
    *,
    kind: PointKind,
    writable: WritableDef | None,
    unit: str | None,
    precision: int | None,
) -> EntityDef:
    """Parse a point's `entity`: the entity the collector resolved for it (a platform that cannot show the
    point's kind is refused); the display unit and precision default to the point's own."""
    data = read_object(data, where)
    platform = data.get("platform")
    if not is_platform(platform):
        raise InvalidPayload(
            f"{where}.platform: {platform!r} is not one of {', '.join(sorted(PLATFORM_KINDS))}"
        )
    if kind not in PLATFORM_KINDS[platform] or (platform in COMMAND_PLATFORMS and writable is None):
        state = "writable" if writable is not None else "read-only"
        raise InvalidPayload(f"{where}.platform: a {platform} cannot show a {state} {kind} point")
    factor = read_number(data, "display_factor", where)
    if factor is not None and factor <= 0:
        raise InvalidPayload(f"{where}.display_factor: {factor} is not larger than 0")
    display_precision = read_precision(data, "display_precision", where)
    return EntityDef(
        platform=platform,
        device_class=_device_class(data, where),
        state_class=read_choice(data, "state_class", where, STATE_CLASSES),
        unit=read_str(data, "display_unit", where, required=False, max_len=20) or unit,
        precision=precision if display_precision is None else display_precision,
        factor=factor,
    )


# Collectors before 0.2.0 announced no `entity`: their consumers made it from the point's fields, with the
# two display rules below. Kept as it was for those collectors only: the entity model is the collector's
# (pv_collector/entity_model.py), so nothing is ever added here.
_ENERGY_DECIMALS_BEFORE_0_2: Final = {"Wh": 0, "kWh": 2, "MWh": 4}


def entity_of_collector_before_0_2(
    kind: PointKind,
    *,
    writable: WritableDef | None,
    unit: str | None,
    device_class: str | None,
    state_class: str | None,
    precision: int | None,
) -> EntityDef:
    """The entity of a point announced without `entity` by a collector before 0.2.0: the platform by kind
    and writability, the announced classes as they are (the platforms keep those Home Assistant accepts),
    energy counters with the same decimals and a plain power factor shown in %."""
    platform: EntityPlatform
    match kind:
        case "number" if writable is not None:
            return EntityDef(platform="number", device_class=device_class, unit=unit, precision=precision)
        case "number":
            shown_unit, factor = unit, None
            if device_class == "power_factor" and unit is None:
                shown_unit, precision, factor = "%", max((precision or 2) - 2, 0), 100
            elif device_class == "energy" and unit is not None and unit in _ENERGY_DECIMALS_BEFORE_0_2:
                precision = _ENERGY_DECIMALS_BEFORE_0_2[unit]
            return EntityDef(
                platform="sensor",
                device_class=device_class,
                state_class=state_class,
                unit=shown_unit,
                precision=precision,
                factor=factor,
            )
        case "enum":
            platform = "sensor" if writable is None else "select"
        case "bool":
            platform = "binary_sensor" if writable is None else "switch"
        case "action":
            platform = "button"
        case _:  # text, bitfield
            platform = "sensor"
    return EntityDef(platform=platform, unit=unit, precision=precision)


def parse_point(data: object, where: str) -> PointDef:
    """Parse one point of a device."""
    data = read_object(data, where)
    key = read_id(data, "key", where, KEY_PATTERN)
    where = f"{where}({key})"
    name = read_str(data, "name", where, required=True)
    kind = data.get("kind")
    if not is_point_kind(kind):
        raise InvalidPayload(f"{where}.kind: {kind!r} is not one of {', '.join(sorted(POINT_KINDS))}")
    device_class = _device_class(data, where)
    precision = read_precision(data, "precision", where)
    options: tuple[str, ...] = ()
    if kind == "enum":
        raw_options = data.get("options")
        if (
            not isinstance(raw_options, list)
            or not raw_options
            or not all(isinstance(o, str) and NAME_PATTERN.match(o) for o in raw_options)
        ):
            raise InvalidPayload(f"{where}.options: {raw_options!r} is not a list of lower snake case names")
        options = tuple(dict.fromkeys(raw_options))
    bits: tuple[tuple[int, str], ...] = ()
    if kind == "bitfield":
        raw_bits = data.get("bits")
        if not isinstance(raw_bits, dict) or not all(
            isinstance(b, str)
            and b.isdigit()
            and len(b) <= 2
            and isinstance(n, str)
            and NAME_PATTERN.match(n)
            for b, n in raw_bits.items()
        ):
            raise InvalidPayload(f"{where}.bits: {raw_bits!r} is not a map of bit numbers to names")
        bits = tuple(sorted((int(b), n) for b, n in raw_bits.items()))
    writable: WritableDef | None = None
    if "writable" in data:
        writable = parse_writable(data["writable"], kind, where)
    elif kind == "action":
        raise InvalidPayload(f"{where}: an action point must be writable")
    unit = read_str(data, "unit", where, required=False, max_len=20) or None
    state_class = read_choice(data, "state_class", where, STATE_CLASSES)
    if "entity" in data:
        entity = parse_entity(
            data["entity"], f"{where}.entity", kind=kind, writable=writable, unit=unit, precision=precision
        )
    else:
        entity = entity_of_collector_before_0_2(
            kind,
            writable=writable,
            unit=unit,
            device_class=device_class,
            state_class=state_class,
            precision=precision,
        )
    return PointDef(
        key=key,
        name=name or key,
        kind=kind,
        entity=entity,
        unit=unit,
        device_class=device_class,
        state_class=state_class,
        precision=precision,
        category=read_choice(data, "category", where, CATEGORIES),  # type: ignore[arg-type]
        role=read_choice(data, "role", where, ROLES),
        options=options,
        bits=bits,
        writable=writable,
        advanced=data.get("advanced") is True,
    )
