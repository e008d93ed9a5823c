"""Home Assistant's standard device-based MQTT discovery, built from the collector's announcement.

Opt-in (`mqtt.ha_discovery.enabled`): for systems that read Home Assistant's discovery format without the
PV Monitor integration (Home Assistant without the integration, openHAB, ioBroker, Node-RED). One retained
message per Modbus device on `<prefix>/device/pv_monitor_<cid>_<did>/config` and one for the collector on
`<prefix>/device/pv_monitor_<cid>/config`. The entities read the contract's own topics: the compact state
JSON through value templates, `status` and `<did>/availability` for availability, `<did>/set/<key>` for
commands. Nothing here does I/O except `PublishedTopics`, the small file remembering what was published
so that it can be removed (empty retained payloads) when the option is switched off or a device goes.

The entity model follows the PV Monitor integration (custom_components/pv_monitor): the same platform
per point kind, the same unit, device class and state class rules (a device class only where Home
Assistant accepts the unit; a state class for every number so the recorder keeps statistics). A point the
announcement marks `advanced` is created disabled (`enabled_by_default: false`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

DEFAULT_PREFIX: Final = "homeassistant"
ORIGIN_NAME: Final = "PV Monitor collector"
ORIGIN_URL: Final = "https://github.com/pv-monitor/pv-monitor"
SLIDER_MAX_STEPS: Final = 100  # as the integration: ranges with more steps get a box
PUBLISHED_FILE: Final = "ha_discovery.json"

# Units Home Assistant accepts per sensor/number device class (homeassistant.components.sensor.const
# DEVICE_CLASS_UNITS, 2026.10; the number platform uses the same sets). Device classes not listed here are
# left out: the entity then has no device class, which Home Assistant always accepts.
DEVICE_CLASS_UNITS: Final[Mapping[str, frozenset[str | None]]] = {
    "apparent_power": frozenset({"VA", "kVA", "mVA"}),
    "battery": frozenset({"%"}),
    "current": frozenset({"A", "mA", "μA"}),
    "duration": frozenset({"d", "h", "min", "ms", "s", "μs"}),
    "energy": frozenset(
        {"GJ", "GWh", "Gcal", "J", "MJ", "MWh", "Mcal", "TWh", "Wh", "cal", "kJ", "kWh", "kcal", "mWh", "thm"}
    ),
    "energy_storage": frozenset(
        {"GJ", "GWh", "Gcal", "J", "MJ", "MWh", "Mcal", "TWh", "Wh", "cal", "kJ", "kWh", "kcal", "mWh", "thm"}
    ),
    "frequency": frozenset({"GHz", "Hz", "MHz", "kHz", "mHz"}),
    "humidity": frozenset({"%"}),
    "irradiance": frozenset({"BTU/(h⋅ft²)", "W/m²"}),
    "power": frozenset({"GW", "MW", "TW", "W", "kW", "mW"}),
    "power_factor": frozenset({"%", None}),
    "reactive_energy": frozenset({"kvarh", "varh"}),
    "reactive_power": frozenset({"kvar", "mvar", "var"}),
    "temperature": frozenset({"K", "°C", "°F"}),
    "voltage": frozenset({"MV", "V", "kV", "mV", "μV"}),
    "wind_speed": frozenset({"Beaufort", "ft/s", "in/s", "km/h", "kn", "m/min", "m/s", "mm/s", "mph"}),
}

# State classes Home Assistant allows per device class (DEVICE_CLASS_STATE_CLASSES, same release).
_TOTALS: Final = frozenset({"total", "total_increasing"})
DEVICE_CLASS_STATE_CLASSES: Final[Mapping[str, frozenset[str]]] = {
    **{device_class: frozenset({"measurement"}) for device_class in DEVICE_CLASS_UNITS},
    "duration": frozenset({"measurement", "total", "total_increasing"}),
    "energy": _TOTALS,
    "reactive_energy": _TOTALS,
}

# Points the collector keeps publishing while a device sleeps (poller: energy counters at their last
# value, power points as inferred 0): their entities stay available while the device is `asleep`.
_INFERRED_ZERO_CLASSES: Final = frozenset({"power", "apparent_power", "reactive_power"})

_AVAILABLE_ONLINE: Final = "{{ 'online' if value == 'online' else 'offline' }}"
_AVAILABLE_ASLEEP: Final = "{{ 'online' if value in ('online', 'asleep') else 'offline' }}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveryTopics:
    """Where the collector's topics and Home Assistant's discovery topics live."""

    base: str  # `<base_topic>/<collector id>`
    collector_id: str
    prefix: str = DEFAULT_PREFIX

    def collector_object_id(self) -> str:
        """Discovery object id (and device identifier) of the collector."""
        return f"pv_monitor_{self.collector_id}"

    def device_object_id(self, device_id: str) -> str:
        """Discovery object id (and device identifier) of a Modbus device."""
        return f"pv_monitor_{self.collector_id}_{device_id}"

    def config_topic(self, object_id: str) -> str:
        """`<prefix>/device/<object id>/config`."""
        return f"{self.prefix}/device/{object_id}/config"

    @property
    def status(self) -> str:
        """The collector's retained status (`online` / `offline`, the Last Will)."""
        return f"{self.base}/status"

    def device_topic(self, device_id: str, leaf: str) -> str:
        """`<base>/<cid>/<did>/<leaf>`."""
        return f"{self.base}/{device_id}/{leaf}"


# ------------------------------------------------------------------------------------------ templates


# As the integration: decimals shown for energy counters, by unit.
ENERGY_DISPLAY_PRECISION = {"Wh": 0, "kWh": 2, "MWh": 4}


def numeric_value_template(key: str, factor: float | None = None) -> str:
    """The point's value (times `factor`); empty when a message does not carry it (numbers, selects,
    switches and binary sensors of Home Assistant ignore an empty result, so the entity keeps its last
    value)."""
    value = f"value_json.v['{key}']" if factor is None else f"(value_json.v['{key}'] * {factor:g})"
    return f"{{{{ {value} if '{key}' in value_json.v else '' }}}}"


def text_value_template(key: str) -> str:
    """The point's value, else the entity's current state: a text or enum sensor would take an empty
    result as its new state, so it is given back what it shows."""
    return f"{{{{ value_json.v['{key}'] if '{key}' in value_json.v else this.state }}}}"


def bool_value_template(key: str) -> str:
    """`true`/`false` from a JSON boolean; empty when absent."""
    return f"{{{{ ('true' if value_json.v['{key}'] else 'false') if '{key}' in value_json.v else '' }}}}"


# ------------------------------------------------------------------------------------------ classes


def device_class_for(point: Mapping[str, Any]) -> str | None:
    """The announced device class if Home Assistant accepts it with the announced unit."""
    device_class = point.get("device_class")
    if not isinstance(device_class, str) or device_class not in DEVICE_CLASS_UNITS:
        return None
    return device_class if point.get("unit") in DEVICE_CLASS_UNITS[device_class] else None


def state_class_for(point: Mapping[str, Any], device_class: str | None) -> str | None:
    """As the integration: the announced state class if allowed for the device class; none for a point
    announced without one (nameplate ratings, vendor codes: no long-term statistics, no Energy candidate)."""
    state_class = point.get("state_class")
    allowed = DEVICE_CLASS_STATE_CLASSES.get(device_class, frozenset()) if device_class else None
    if state_class is None:
        return None
    if allowed is not None and state_class not in allowed:
        return None
    return str(state_class)


def platform_for(point: Mapping[str, Any]) -> str:
    """The Home Assistant platform of a point's entity (the integration's rule)."""
    writable = point.get("writable") is not None
    match point["kind"]:
        case "number":
            return "number" if writable else "sensor"
        case "enum":
            return "select" if writable else "sensor"
        case "bool":
            return "switch" if writable else "binary_sensor"
        case "action":
            return "button"
        case _:  # text, bitfield
            return "sensor"


def stays_available_asleep(point: Mapping[str, Any]) -> bool:
    """Counters (last value) and power points (inferred 0) are published while the device sleeps."""
    if point["kind"] != "number" or point.get("writable") is not None:
        return False
    state_class = point.get("state_class")
    if state_class in _TOTALS:
        return True
    return state_class == "measurement" and point.get("device_class") in _INFERRED_ZERO_CLASSES


# ------------------------------------------------------------------------------------------ payloads


def point_component(topics: DiscoveryTopics, device_id: str, point: Mapping[str, Any]) -> dict[str, Any]:
    """The discovery component of one announced point."""
    key = str(point["key"])
    platform = platform_for(point)
    component: dict[str, Any] = {
        "platform": platform,
        "unique_id": f"{topics.device_object_id(device_id)}_{key}",
        "name": point["name"],
    }
    category = point.get("category")
    if point["kind"] == "bitfield":
        category = "diagnostic"
    if category is not None:
        component["entity_category"] = category
    if point.get("advanced"):
        component["enabled_by_default"] = False  # contract `advanced`: the user enables it if wanted
    command_topic = topics.device_topic(device_id, f"set/{key}")
    writable: Mapping[str, Any] = point.get("writable") or {}
    match platform:
        case "sensor":
            component.update(_sensor_fields(point))
        case "number":
            component.update(_number_fields(point, writable))
            component["command_topic"] = command_topic
            component["value_template"] = numeric_value_template(key)
        case "select":
            component["options"] = list(point["options"])
            component["command_topic"] = command_topic
            component["command_template"] = "{{ {'value': value} | tojson }}"
            component["value_template"] = numeric_value_template(key)
        case "switch":
            component.update(payload_on="true", payload_off="false", state_on="true", state_off="false")
            component["command_topic"] = command_topic
            component["value_template"] = bool_value_template(key)
        case "binary_sensor":
            component.update(payload_on="true", payload_off="false")
            component["value_template"] = bool_value_template(key)
        case _:  # button: the collector takes any payload for an action
            component["command_topic"] = command_topic
    if stays_available_asleep(point):
        component["availability"] = _availability(topics, device_id, asleep_is_available=True)
    return component


def _sensor_fields(point: Mapping[str, Any]) -> dict[str, Any]:
    key = str(point["key"])
    match point["kind"]:
        case "number":
            device_class = device_class_for(point)
            unit, precision, factor = point.get("unit"), point.get("precision"), None
            if device_class == "power_factor" and unit is None:
                # As the integration: one unit for power factors, a plain factor (-1..1) in %.
                unit, precision, factor = "%", max((precision or 2) - 2, 0), 100.0
            elif device_class == "energy" and unit in ENERGY_DISPLAY_PRECISION:
                precision = ENERGY_DISPLAY_PRECISION[unit]  # every counter with the same decimals
            fields: dict[str, Any] = {"value_template": numeric_value_template(key, factor)}
            state_class = state_class_for(point, device_class)
            for name, value in (
                ("device_class", device_class),
                ("state_class", state_class),
                ("unit_of_measurement", unit),
                ("suggested_display_precision", precision),
            ):
                if value is not None:
                    fields[name] = value
            return fields
        case "enum":
            return {
                "device_class": "enum",
                "options": list(point["options"]),
                "value_template": text_value_template(key),
            }
        case _:  # text, bitfield (the raw number; which bits are set is the integration's business)
            return {"value_template": text_value_template(key)}


def _number_fields(point: Mapping[str, Any], writable: Mapping[str, Any]) -> dict[str, Any]:
    low, high = float(writable["min"]), float(writable["max"])
    precision = point.get("precision")
    step = writable.get("step") or (10.0**-precision if precision else 1.0)
    fields: dict[str, Any] = {
        "min": writable["min"],
        "max": writable["max"],
        "step": step,
        "mode": "slider" if (high - low) / step <= SLIDER_MAX_STEPS else "box",
    }
    if point.get("unit") is not None:
        fields["unit_of_measurement"] = point["unit"]
    if (device_class := device_class_for(point)) is not None:
        fields["device_class"] = device_class
    return fields


def _availability(
    topics: DiscoveryTopics, device_id: str, *, asleep_is_available: bool = False
) -> list[dict[str, str]]:
    """The collector's status and the device's availability; both must say online (`availability_mode`
    `all`). `asleep` counts as online only for points the collector keeps publishing while asleep."""
    return [
        {"topic": topics.status, "payload_available": "online", "payload_not_available": "offline"},
        {
            "topic": topics.device_topic(device_id, "availability"),
            "value_template": _AVAILABLE_ASLEEP if asleep_is_available else _AVAILABLE_ONLINE,
            "payload_available": "online",
            "payload_not_available": "offline",
        },
    ]


def _origin(version: str) -> dict[str, str]:
    return {"name": ORIGIN_NAME, "sw_version": version, "support_url": ORIGIN_URL}


def device_payload(
    topics: DiscoveryTopics, device: Mapping[str, Any], version: str, *, qos: int = 0
) -> dict[str, Any]:
    """The device-based discovery payload of one announced Modbus device."""
    device_id = str(device["id"])
    info: dict[str, Any] = {
        "identifiers": [topics.device_object_id(device_id)],
        "name": device["name"],
        "via_device": topics.collector_object_id(),
    }
    for source, target in (
        ("manufacturer", "manufacturer"),
        ("model", "model"),
        ("serial", "serial_number"),
        ("firmware", "sw_version"),
    ):
        if device.get(source):
            info[target] = device[source]
    components: dict[str, Any] = {
        point["key"]: point_component(topics, device_id, point) for point in device.get("points", ())
    }
    # How the collector reaches the device (the integration's `connection` sensor): `-` never occurs in
    # point keys, so this component id cannot clash with one.
    components["pv-connection"] = {
        "platform": "sensor",
        "unique_id": f"{topics.device_object_id(device_id)}-connection",
        "name": "Connection",
        "device_class": "enum",
        "options": ["online", "offline", "asleep"],
        "entity_category": "diagnostic",
        "state_topic": topics.device_topic(device_id, "availability"),
        "availability": [
            {"topic": topics.status, "payload_available": "online", "payload_not_available": "offline"}
        ],
    }
    return {
        "device": info,
        "origin": _origin(version),
        "state_topic": topics.device_topic(device_id, "state"),
        "availability": _availability(topics, device_id),
        "availability_mode": "all",
        "qos": qos,
        "components": components,
    }


def collector_payload(
    topics: DiscoveryTopics, collector: Mapping[str, Any], *, qos: int = 0
) -> dict[str, Any]:
    """The device-based discovery payload of the collector itself (its devices link to it)."""
    version = str(collector.get("version", ""))
    object_id = topics.collector_object_id()
    stats = f"{topics.base}/stats"
    status = [{"topic": topics.status, "payload_available": "online", "payload_not_available": "offline"}]
    return {
        "device": {
            "identifiers": [object_id],
            "name": collector.get("name", topics.collector_id),
            "manufacturer": "PV Monitor",
            "model": "Collector",
            "sw_version": version,
        },
        "origin": _origin(version),
        "qos": qos,
        "components": {
            "status": {
                "platform": "binary_sensor",
                "unique_id": f"{object_id}-status",
                "name": "Status",
                "device_class": "connectivity",
                "entity_category": "diagnostic",
                "state_topic": topics.status,
                "payload_on": "online",
                "payload_off": "offline",
            },
            "queue_length": {
                "platform": "sensor",
                "unique_id": f"{object_id}-stats-queue_length",
                "name": "Queued readings",
                "state_class": "measurement",
                "entity_category": "diagnostic",
                "state_topic": stats,
                "value_template": "{{ value_json['queue_length'] if 'queue_length' in value_json else '' }}",
                "availability": status,
            },
        },
    }


@dataclass(frozen=True, slots=True)
class DiscoveryPlan:
    """What to publish: retained configs by topic, topics to clear, and the topics to remember."""

    publish: dict[str, dict[str, Any]]
    clear: tuple[str, ...]
    remember: frozenset[str]


def plan(
    topics: DiscoveryTopics,
    announcement: Mapping[str, Any],
    previous: Iterable[str],
    *,
    enabled: bool,
    qos: int = 0,
) -> DiscoveryPlan:
    """The discovery messages of an announcement, and which earlier ones to remove.

    Disabled: every topic published earlier is cleared. Enabled: every non-pending device gets its
    message; a device still `pending` (its points not read yet) keeps what was published for it; topics
    of devices no longer announced are cleared.
    """
    earlier = frozenset(previous)
    if not enabled:
        return DiscoveryPlan({}, tuple(sorted(earlier)), frozenset())
    collector = announcement["collector"]
    version = str(collector.get("version", ""))
    publish: dict[str, dict[str, Any]] = {
        topics.config_topic(topics.collector_object_id()): collector_payload(topics, collector, qos=qos)
    }
    keep: set[str] = set()
    for device in announcement.get("devices", ()):
        topic = topics.config_topic(topics.device_object_id(str(device["id"])))
        if device.get("pending"):
            if topic in earlier:
                keep.add(topic)
            continue
        publish[topic] = device_payload(topics, device, version, qos=qos)
    remember = frozenset(publish) | keep
    return DiscoveryPlan(publish, tuple(sorted(earlier - remember)), remember)


def dumps(payload: Mapping[str, Any]) -> str:
    """Compact JSON (non-ASCII units such as °C kept as UTF-8)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


class PublishedTopics:
    """The discovery topics this collector has published, kept in `data_dir` across restarts."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / PUBLISHED_FILE

    def load(self) -> frozenset[str]:
        """The remembered topics (none when the file is missing or unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return frozenset()
        topics = data.get("topics") if isinstance(data, dict) else None
        if not isinstance(topics, list):
            return frozenset()
        return frozenset(topic for topic in topics if isinstance(topic, str))

    def save(self, topics: Iterable[str]) -> None:
        """Remember `topics` (atomically); an empty set removes the file."""
        remembered = sorted(topics)
        if not remembered:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"topics": remembered}, indent=1), encoding="utf-8")
        os.replace(temporary, self.path)
