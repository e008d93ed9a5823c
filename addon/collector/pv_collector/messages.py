"""The MQTT contract's messages as the collector sends them (docs/mqtt-contract.md, JSON Schemas in
contract/): the announcement with its collector, devices and points, device state messages, events and the
collector's statistics.

Frozen dataclasses handed from the pollers to the publisher; `to_payload()` gives the JSON object of the
wire, the only place where a message becomes a dict. Optional fields without a value are left out, as the
contract asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from pv_collector.entity_model import Entity, point_entity
from pv_collector.model import Point, PointKind, Value, Writable

CONTRACT_VERSION: Final = 1
HARDWARE_TEXT_MAX: Final = 100  # characters of a device's manufacturer, model, serial or firmware
EVENT_MESSAGE_MAX: Final = 500  # characters of an event's message


def _present(fields: tuple[tuple[str, object], ...]) -> dict[str, Any]:
    return {name: value for name, value in fields if value is not None}


@dataclass(frozen=True, slots=True, kw_only=True)
class PointAnnouncement:
    """One point of a device (contract `$defs/point`) with the entity it becomes (`entity`)."""

    key: str
    name: str
    kind: PointKind
    entity: Entity
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = None
    precision: int | None = None
    category: str | None = None
    role: str | None = None
    options: tuple[str, ...] | None = None  # enum points
    bits: tuple[tuple[int, str], ...] | None = None  # bitfield points: (bit, name) in bit order
    advanced: bool = False  # most users do not need it: consumers create the entity disabled
    writable: Writable | None = None  # limits of a writable number; empty for other writable points

    @classmethod
    def of(cls, point: Point) -> PointAnnouncement:
        """The announcement of a profile's point."""
        writable = None
        if point.kind == "number" and point.writable is not None:
            writable = Writable(min=point.writable.min, max=point.writable.max, step=point.writable.step)
        elif point.kind == "action" or point.writable is not None:
            writable = Writable()
        return cls(
            key=point.key,
            name=point.name,
            kind=point.kind,
            entity=point_entity(point),
            unit=point.unit,
            device_class=point.device_class,
            state_class=point.state_class,
            precision=point.precision,
            category=point.category,
            role=point.role,
            options=tuple(dict.fromkeys(point.options.values()))
            if point.kind == "enum" and point.options
            else None,
            bits=tuple(sorted((point.bits or {}).items())) if point.kind == "bitfield" else None,
            advanced=point.advanced,
            writable=writable,
        )

    def to_payload(self) -> dict[str, Any]:
        """The point's JSON object."""
        payload = _present(
            (
                ("key", self.key),
                ("name", self.name),
                ("kind", self.kind),
                ("unit", self.unit),
                ("device_class", self.device_class),
                ("state_class", self.state_class),
                ("precision", self.precision),
                ("category", self.category),
                ("role", self.role),
            )
        )
        if self.options is not None:
            payload["options"] = list(self.options)
        if self.bits is not None:
            payload["bits"] = {str(bit): name for bit, name in self.bits}
        if self.advanced:
            payload["advanced"] = True
        if self.writable is not None:
            limits = self.writable
            payload["writable"] = _present((("min", limits.min), ("max", limits.max), ("step", limits.step)))
        payload["entity"] = self.entity.to_payload()
        return payload


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceAnnouncement:
    """One Modbus device (contract `$defs/device`)."""

    id: str
    name: str
    kind: str
    profile: str
    poll_interval: float
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    points: tuple[PointAnnouncement, ...] = ()
    pending: bool = False  # its points are not known yet: consumers keep what they know of it

    def to_payload(self) -> dict[str, Any]:
        """The device's JSON object (hardware texts cut to the schema's length)."""
        payload: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "profile": self.profile,
            "poll_interval": self.poll_interval,
        }
        for name, value in (
            ("manufacturer", self.manufacturer),
            ("model", self.model),
            ("serial", self.serial),
            ("firmware", self.firmware),
        ):
            if value:
                payload[name] = value[:HARDWARE_TEXT_MAX]
        payload["points"] = [point.to_payload() for point in self.points]
        if self.pending:
            payload["pending"] = True
        return payload


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectorInfo:
    """Who announces: the collector's id, name, version and the token of this run."""

    id: str
    name: str
    version: str
    instance: str
    ha_discovery: bool = False  # Home Assistant's standard discovery is published too

    def to_payload(self) -> dict[str, Any]:
        """The `collector` JSON object."""
        payload: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "instance": self.instance,
        }
        if self.ha_discovery:
            payload["ha_discovery"] = True
        return payload


@dataclass(frozen=True, slots=True, kw_only=True)
class Announcement:
    """The retained announcement on `<base>/<cid>/config` (announcement.schema.json)."""

    collector: CollectorInfo
    devices: tuple[DeviceAnnouncement, ...] = ()
    contract: int = CONTRACT_VERSION

    def to_payload(self) -> dict[str, Any]:
        """The announcement's JSON object."""
        return {
            "contract": self.contract,
            "collector": self.collector.to_payload(),
            "devices": [device.to_payload() for device in self.devices],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StateMessage:
    """A device's readings (state.schema.json) before the queue gives them their `seq`."""

    ts: float  # Unix time of the reading, seconds
    values: Mapping[str, Value]
    inferred: tuple[str, ...] = ()  # keys whose values were inferred, not read (asleep: 0 W)
    reset: tuple[str, ...] = ()  # counters that really started again

    def to_payload(self) -> dict[str, Any]:
        """The state's JSON object without `seq`."""
        payload: dict[str, Any] = {"ts": self.ts, "v": dict(self.values)}
        if self.inferred:
            payload["inferred"] = list(self.inferred)
        if self.reset:
            payload["reset"] = list(self.reset)
        return payload


@dataclass(frozen=True, slots=True, kw_only=True)
class EventMessage:
    """A device event (event.schema.json): a command's result or a rejected reading."""

    ts: float
    type: Literal["command_result", "point_rejected"]
    point: str
    ok: bool | None = None  # command_result only
    value: Value | None = None  # the confirmed value of a command
    error: str | None = None
    message: str | None = None
    id: str | None = None  # the command's id, echoed

    @classmethod
    def command_result(
        cls,
        ts: float,
        point: str,
        *,
        ok: bool,
        value: Value | None = None,
        error: str | None = None,
        message: str | None = None,
        command_id: str | None = None,
    ) -> EventMessage:
        """The outcome of a command (`message` cut to the schema's length)."""
        text = None if message is None else message[:EVENT_MESSAGE_MAX]
        return cls(
            ts=ts,
            type="command_result",
            point=point,
            ok=ok,
            value=value,
            error=error,
            message=text,
            id=command_id,
        )

    @classmethod
    def point_rejected(cls, ts: float, point: str, *, error: str, message: str) -> EventMessage:
        """A reading that failed the plausibility check."""
        return cls(ts=ts, type="point_rejected", point=point, error=error, message=message)

    def to_payload(self) -> dict[str, Any]:
        """The event's JSON object."""
        return _present(
            (
                ("ts", self.ts),
                ("type", self.type),
                ("point", self.point),
                ("ok", self.ok),
                ("value", self.value),
                ("error", self.error),
                ("message", self.message),
                ("id", self.id),
            )
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayStats:
    """The Modbus TCP gateway's figures in the statistics: its clients and the requests by outcome."""

    clients: int
    cached: int
    forwarded: int
    written: int
    refused: int
    failed: int

    def to_payload(self) -> dict[str, int]:
        """The `gateway` JSON object (the fields in their order)."""
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsMessage:
    """The collector's statistics, retained on `<base>/<cid>/stats` (stats.schema.json)."""

    ts: float  # Unix time, seconds
    uptime: float  # seconds since the collector started
    requests_per_cycle: int  # Modbus requests of one cycle of every device together
    messages_published: int
    errors: Mapping[str, int]  # by kind, in the order they first happened
    rejected_readings: int
    queue_length: int
    queue_dropped: int
    cycle_seconds: float | None = None  # smoothed processing time of a cycle; None before the first
    quarantined: Mapping[str, tuple[str, ...]]  # device -> its quarantined points
    gateway: GatewayStats | None = None  # only with the gateway on

    def to_payload(self) -> dict[str, Any]:
        """The statistics' JSON object."""
        payload: dict[str, Any] = {
            "ts": self.ts,
            "uptime": self.uptime,
            "requests_per_cycle": self.requests_per_cycle,
            "messages_published": self.messages_published,
            "errors": dict(self.errors),
            "rejected_readings": self.rejected_readings,
            "queue_length": self.queue_length,
            "queue_dropped": self.queue_dropped,
        }
        if self.cycle_seconds is not None:
            payload["cycle_seconds"] = self.cycle_seconds
        payload["quarantined"] = {device: list(keys) for device, keys in self.quarantined.items()}
        if self.gateway is not None:
            payload["gateway"] = self.gateway.to_payload()
        return payload
