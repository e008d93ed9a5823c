"""Home Assistant's standard device-based MQTT discovery, built from the collector's announcement.

Opt-in (`mqtt.ha_discovery.enabled`): for systems that read Home Assistant's discovery format without the
PV Monitor integration (Home Assistant without the integration, openHAB, ioBroker, Node-RED). One retained
message per Modbus device on `<prefix>/device/pv_monitor_<cid>_<did>/config` and one for the collector on
`<prefix>/device/pv_monitor_<cid>/config`. The entities read the contract's own topics: the compact state
JSON through value templates, `status` and `<did>/availability` for availability, `<did>/set/<key>` for
commands. Nothing here does I/O except `PublishedTopics`, the small file remembering what was published
so that it can be removed (empty retained payloads) when the option is switched off or a device goes.

Each point's entity is the one its announcement carries (`entity`: platform, device and state class,
display hints), resolved by the collector's entity model (entity_model.py) for the PV Monitor integration
too, so both make the same entities. A point the announcement marks `advanced` is created disabled
(`enabled_by_default: false`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pv_collector.atomic import write_atomically
from pv_collector.entity_model import published_while_asleep

DEFAULT_PREFIX: Final = "homeassistant"
ORIGIN_NAME: Final = "PV Monitor collector"
ORIGIN_URL: Final = "https://github.com/pv-monitor/pv-monitor"
SLIDER_MAX_STEPS: Final = 100  # as the integration: ranges with more steps get a box
PUBLISHED_FILE: Final = "ha_discovery.json"

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


# ------------------------------------------------------------------------------------------ payloads


def point_component(topics: DiscoveryTopics, device_id: str, point: Mapping[str, Any]) -> dict[str, Any]:
    """The discovery component of one announced point."""
    key = str(point["key"])
    entity: Mapping[str, Any] = point["entity"]
    platform = entity["platform"]
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
            component.update(_sensor_fields(point, entity))
        case "number":
            component.update(_number_fields(point, entity, writable))
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
    if published_while_asleep(
        point["kind"],
        writable="writable" in point,
        device_class=point.get("device_class"),
        state_class=point.get("state_class"),
    ):
        component["availability"] = _availability(topics, device_id, asleep_is_available=True)
    return component


def _sensor_fields(point: Mapping[str, Any], entity: Mapping[str, Any]) -> dict[str, Any]:
    key = str(point["key"])
    match point["kind"]:
        case "number":
            factor = entity.get("display_factor")
            fields: dict[str, Any] = {"value_template": numeric_value_template(key, factor)}
            for name, value in (
                ("device_class", entity.get("device_class")),
                ("state_class", entity.get("state_class")),
                ("unit_of_measurement", entity.get("display_unit", point.get("unit"))),
                ("suggested_display_precision", entity.get("display_precision", point.get("precision"))),
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


def _number_fields(
    point: Mapping[str, Any], entity: Mapping[str, Any], writable: Mapping[str, Any]
) -> dict[str, Any]:
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
    if (device_class := entity.get("device_class")) is not None:
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
        write_atomically(self.path, json.dumps({"topics": remembered}, indent=1))
