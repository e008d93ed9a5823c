"""Sensors: read-only points, each device's connection and the collector's statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, override

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.components.sensor.const import (
    DEVICE_CLASS_STATE_CLASSES,
    DEVICE_CLASS_UNITS,
    NON_NUMERIC_DEVICE_CLASSES,
)
from homeassistant.const import PERCENTAGE, EntityCategory, Platform, UnitOfEnergy, UnitOfPower, UnitOfTime
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .catalogue import (
    connection_unique_id,
    has_health,
    health_unique_id,
    point_platform,
    point_unique_id,
    stat_unique_id,
)
from .const import signal_new_entities
from .entity import PvMonitorEntity, PvMonitorPointEntity, accepted_device_class, point_description_fields
from .health_tracker import HealthTracker
from .messages import Announcement, DeviceDef, PointDef, Stats
from .models import PvMonitorConfigEntry, PvMonitorData

PARALLEL_UPDATES = 0

CONNECTION_STATES = ["online", "offline", "asleep"]


@dataclass(frozen=True, kw_only=True)
class PvMonitorStatDescription(SensorEntityDescription):
    """A collector statistic."""

    value_fn: Callable[[Stats], float | int | None]
    attributes_fn: Callable[[Stats], dict[str, Any]] | None = None


STAT_DESCRIPTIONS: tuple[PvMonitorStatDescription, ...] = (
    PvMonitorStatDescription(
        key="poll_duration",
        translation_key="poll_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda stats: stats.cycle_seconds,
    ),
    PvMonitorStatDescription(
        key="requests_per_cycle",
        translation_key="requests_per_cycle",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda stats: stats.requests_per_cycle,
    ),
    PvMonitorStatDescription(
        key="errors",
        translation_key="errors",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda stats: stats.errors_total,
        attributes_fn=lambda stats: dict(stats.errors or {}),
    ),
    PvMonitorStatDescription(
        key="rejected_readings",
        translation_key="rejected_readings",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda stats: stats.rejected_readings,
    ),
    PvMonitorStatDescription(
        key="queue_length",
        translation_key="queue_length",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda stats: stats.queue_length,
    ),
    PvMonitorStatDescription(
        key="queue_dropped",
        translation_key="queue_dropped",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda stats: stats.queue_dropped,
    ),
    PvMonitorStatDescription(
        key="quarantined_points",
        translation_key="quarantined_points",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda stats: stats.quarantined_total,
        attributes_fn=lambda stats: {
            device: list(keys) for device, keys in (stats.quarantined or {}).items()
        },
    ),
    PvMonitorStatDescription(
        key="messages_published",
        translation_key="messages_published",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda stats: stats.messages_published,
    ),
    PvMonitorStatDescription(
        key="uptime",
        translation_key="uptime",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda stats: stats.uptime,
    ),
)


type HealthValue = Callable[[HealthTracker, str | None], float | None]


@dataclass(frozen=True, kw_only=True)
class PvMonitorHealthDescription(SensorEntityDescription):
    """A PV health figure of an inverter (device id) or of the collector's day (device id None).

    `exists_fn` says which announced devices have it (per-inverter figures).
    """

    value_fn: HealthValue
    attributes_fn: Callable[[HealthTracker], dict[str, Any]] | None = None
    exists_fn: Callable[[DeviceDef], bool] = lambda _device: True
    # The collector's figures: which announcements have it (the roles it needs).
    announced_fn: Callable[[Announcement], bool] = lambda _announcement: True


def _tracker_value(attribute: str) -> HealthValue:
    def value(health: HealthTracker, device_id: str | None) -> float | None:
        tracker = health.trackers.get(device_id) if device_id is not None else None
        if tracker is None:
            return None
        result: float | None = getattr(tracker, attribute)
        return None if result is None else round(result, 3)

    return value


def _expected_power(health: HealthTracker, device_id: str | None) -> float | None:
    assert device_id is not None
    power = health.expected_power(device_id)
    return None if power is None else round(power, 1)


def _expected_energy(health: HealthTracker, device_id: str | None) -> float | None:
    assert device_id is not None
    if health.expected_power(device_id) is None:
        return None  # nothing describes the array: no expectation at all
    return _tracker_value("expected_energy")(health, device_id)


def _ratio(attribute: str) -> HealthValue:
    tracker_value = _tracker_value(attribute)

    def value(health: HealthTracker, device_id: str | None) -> float | None:
        assert device_id is not None
        return None if health.expected_power(device_id) is None else tracker_value(health, device_id)

    return value


def _specific_yield(health: HealthTracker, device_id: str | None) -> float | None:
    assert device_id is not None
    tracker = health.trackers.get(device_id)
    peak = health.peak_power_kw(device_id)
    if tracker is None or peak is None:
        return None
    return round(tracker.actual_energy / peak, 3)


def _summary_value(key: str) -> HealthValue:
    def value(health: HealthTracker, _device_id: str | None) -> float | None:
        result: float | None = health.daily_summary()[key]
        return result

    return value


# Specific yield is a daily total that restarts at local midnight: `total_increasing` (a drop is a new
# cycle for the recorder's statistics, like a daily utility meter). Expected energy is an estimate, not a
# metered energy: no state class, so it never appears among the Energy dashboard's candidates.
HEALTH_DESCRIPTIONS: tuple[PvMonitorHealthDescription, ...] = (
    PvMonitorHealthDescription(
        key="expected_power",
        translation_key="expected_power",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=_expected_power,
        exists_fn=has_health,
    ),
    PvMonitorHealthDescription(
        key="expected_energy_today",
        translation_key="expected_energy_today",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=_expected_energy,
        exists_fn=has_health,
    ),
    PvMonitorHealthDescription(
        key="performance_ratio_today",
        translation_key="performance_ratio_today",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=_ratio("performance_ratio"),
        exists_fn=has_health,
    ),
    PvMonitorHealthDescription(
        key="performance_ratio_7d",
        translation_key="performance_ratio_7d",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=_ratio("performance_ratio_rolling"),
        exists_fn=has_health,
    ),
    PvMonitorHealthDescription(
        key="specific_yield_today",
        translation_key="specific_yield_today",
        native_unit_of_measurement="kWh/kWp",
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        value_fn=_specific_yield,
        exists_fn=has_health,
    ),
)


def _announces(*roles: str) -> Callable[[Announcement], bool]:
    def announced(announcement: Announcement) -> bool:
        return all(any(device.points_with_role(role) for device in announcement.devices) for role in roles)

    return announced


def _role_today(role: str) -> HealthValue:
    def value(health: HealthTracker, _device_id: str | None) -> float | None:
        return health.role_today(role)

    return value


def _since(health: HealthTracker) -> dict[str, Any]:
    since = health.summary.since
    return {"since": since.isoformat() if since else None}


def _today(key: str, role: str) -> PvMonitorHealthDescription:
    """Today's increase of the counters with a role (a view of their statistics: no state class)."""
    return PvMonitorHealthDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=_role_today(role),
        attributes_fn=_since,
        announced_fn=_announces(role),
    )


# The collector's day. Today's figures are the counters' increase since midnight (or since set-up), a
# view of the counters' own long-term statistics: no state class, so no second copy in the Energy
# dashboard's candidates; they show values from the first health tick on, long before hourly statistics.
SUMMARY_DESCRIPTIONS: tuple[PvMonitorHealthDescription, ...] = (
    PvMonitorHealthDescription(
        key="pv_energy_today",
        translation_key="pv_energy_today",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=_summary_value("energy_today"),
        attributes_fn=lambda health: {k: v for k, v in health.daily_summary().items() if k != "energy_today"},
        announced_fn=_announces("pv_power"),
    ),
    PvMonitorHealthDescription(
        key="house_consumption_today",
        translation_key="house_consumption_today",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda health, _device_id: health.consumption_today(),
        attributes_fn=_since,
        announced_fn=_announces("grid_import_energy"),
    ),
    _today("grid_import_today", "grid_import_energy"),
    _today("grid_export_today", "grid_export_energy"),
    _today("battery_charge_today", "battery_charge_energy"),
    _today("battery_discharge_today", "battery_discharge_energy"),
    PvMonitorHealthDescription(
        key="house_power",
        translation_key="house_power",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda health, _device_id: health.house_power(),
        announced_fn=_announces("grid_power"),
    ),
    PvMonitorHealthDescription(
        key="pv_peak_power_today",
        translation_key="pv_peak_power_today",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=_summary_value("peak_power"),
    ),
)

CONNECTION_DESCRIPTION = SensorEntityDescription(
    key="connection",
    translation_key="connection",
    device_class=SensorDeviceClass.ENUM,
    options=CONNECTION_STATES,
    entity_category=EntityCategory.DIAGNOSTIC,
)


def sensor_device_class(point: PointDef) -> SensorDeviceClass | None:
    """The device class of the point's entity if this Home Assistant accepts it for a number with the
    entity's unit (asked of its own tables: the collector resolved the class, this only guards it)."""
    device_class = accepted_device_class(SensorDeviceClass, DEVICE_CLASS_UNITS, point.entity)
    return None if device_class in NON_NUMERIC_DEVICE_CLASSES else device_class


def sensor_state_class(point: PointDef, device_class: SensorDeviceClass | None) -> SensorStateClass | None:
    """The state class of the point's entity if this Home Assistant allows it for the device class (a
    guard, as `sensor_device_class`). None for a point announced without one: nameplate ratings, vendor
    state codes and settings collect no long-term statistics and are no Energy dashboard candidates."""
    if point.entity.state_class is None:
        return None
    state_class = SensorStateClass(point.entity.state_class)
    if device_class is not None and state_class not in DEVICE_CLASS_STATE_CLASSES.get(device_class, set()):
        return None
    return state_class


def point_sensor_description(point: PointDef, device: DeviceDef) -> SensorEntityDescription:
    """The description of a read-only point's sensor."""
    fields = point_description_fields(point, device, Platform.SENSOR)
    match point.kind:
        case "enum":
            return SensorEntityDescription(
                **fields, device_class=SensorDeviceClass.ENUM, options=list(point.options)
            )
        case "bitfield":
            fields["entity_category"] = EntityCategory.DIAGNOSTIC
            return SensorEntityDescription(**fields)
        case "number":
            device_class = sensor_device_class(point)
            return SensorEntityDescription(
                **fields,
                device_class=device_class,
                state_class=sensor_state_class(point, device_class),
                native_unit_of_measurement=point.entity.unit,
                suggested_display_precision=point.entity.precision,
            )
        case _:  # text
            return SensorEntityDescription(**fields)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PvMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add sensors whenever the announcement brings new ones."""
    data = entry.runtime_data

    def register(unique_id: str) -> bool:
        return data.coordinator.async_register_entity(Platform.SENSOR, unique_id)

    @callback
    def _async_add_new() -> None:
        if (announcement := data.state.announcement) is None:
            return
        cid = data.state.collector_id
        entities: list[Entity] = [
            PvMonitorStatSensor(data, description)
            for description in STAT_DESCRIPTIONS
            if register(stat_unique_id(cid, description.key))
        ]
        entities.extend(
            PvMonitorHealthSensor(data, None, description)
            for description in SUMMARY_DESCRIPTIONS
            if description.announced_fn(announcement)
            and register(health_unique_id(cid, None, description.key))
        )
        for device in announcement.devices:
            entities.extend(
                PvMonitorHealthSensor(data, device.id, description)
                for description in HEALTH_DESCRIPTIONS
                if description.exists_fn(device)
                and register(health_unique_id(cid, device.id, description.key))
            )
            if register(connection_unique_id(cid, device.id)):
                entities.append(PvMonitorConnectionSensor(data, device))
            entities.extend(
                _point_sensor(data, device, point)
                for point in device.points
                if point_platform(point) is Platform.SENSOR
                and register(point_unique_id(cid, device.id, point.key))
            )
        if entities:
            async_add_entities(entities)

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_entities(entry.entry_id, Platform.SENSOR), _async_add_new)
    )


def _point_sensor(data: PvMonitorData, device: DeviceDef, point: PointDef) -> SensorEntity:
    description = point_sensor_description(point, device)
    if point.kind == "number" and point.is_counter:
        return PvMonitorCounterSensor(data, device, point, description)
    return PvMonitorPointSensor(data, device, point, description)


class PvMonitorPointSensor(PvMonitorPointEntity, SensorEntity):
    """A read-only point."""

    _platform_domain = Platform.SENSOR
    _unrecorded_attributes = frozenset({"active"})

    @property
    @override
    def native_value(self) -> str | int | float | None:
        """The point's value (bitfields: the raw number; the set bits are the `active` attribute). A
        number is shown times its entity's factor (a plain power factor in %); one that rounds to zero at
        its precision is 0, never -0."""
        value = self.point_value
        if isinstance(value, bool):
            return str(value).lower()
        if not isinstance(value, int | float) or self.point.kind != "number":
            return value
        if self.point.entity.factor is not None:
            value = value * self.point.entity.factor
        precision = self.entity_description.suggested_display_precision
        if value == 0 or (precision is not None and abs(value) < 0.5 * 10**-precision):
            return 0
        return value

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Bitfields: names of the active bits."""
        if self.point.kind != "bitfield":
            return None
        value = self.point_value
        return {"active": self.point.active_bits(value) if isinstance(value, int) else []}


class PvMonitorCounterSensor(PvMonitorPointSensor, RestoreSensor):
    """An energy-like counter: restored at start so statistics never see a fake reset."""

    _restored: float | int | None = None

    @override
    async def async_added_to_hass(self) -> None:
        """Take the last known value until the collector reports one."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_sensor_data()) is not None and isinstance(
            last.native_value, int | float
        ):
            self._restored = last.native_value
            runtime = self.data.state.devices.get(self.contract_device_id)
            if runtime is not None and self.point.state_class == "total_increasing":
                runtime.restore_counter(self.point.key, float(last.native_value))

    @property
    @override
    def native_value(self) -> str | int | float | None:
        """The reported value, else the restored one."""
        value = super().native_value
        return self._restored if value is None else value


class PvMonitorConnectionSensor(PvMonitorEntity, SensorEntity):
    """How the collector reaches a device: online, offline or asleep. Stays available to say so."""

    _platform_domain = Platform.SENSOR
    entity_description = CONNECTION_DESCRIPTION

    def __init__(self, data: PvMonitorData, device: DeviceDef) -> None:
        """One per device."""
        super().__init__(data, device.id, connection_unique_id(data.state.collector_id, device.id))

    @property
    @override
    def available(self) -> bool:
        """Available whenever the collector's contract is understood."""
        return self.data.state.usable

    @property
    @override
    def native_value(self) -> str | None:
        """online, offline or asleep (offline while the collector is)."""
        assert self.contract_device_id is not None
        return self.data.state.connection(self.contract_device_id)


class PvMonitorStatSensor(PvMonitorEntity, SensorEntity):
    """One figure of the collector's statistics."""

    _platform_domain = Platform.SENSOR
    entity_description: PvMonitorStatDescription

    def __init__(self, data: PvMonitorData, description: PvMonitorStatDescription) -> None:
        """One per statistic, on the collector device."""
        super().__init__(data, None, stat_unique_id(data.state.collector_id, description.key))
        self.entity_description = description

    @property
    @override
    def available(self) -> bool:
        """Available while the collector is online and reports this figure."""
        return super().available and self.native_value is not None

    @property
    @override
    def native_value(self) -> float | int | None:
        """The latest reported figure."""
        stats = self.data.state.stats
        return None if stats is None else self.entity_description.value_fn(stats)

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Errors: the count per kind."""
        stats = self.data.state.stats
        if stats is None or self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(stats)


class PvMonitorHealthSensor(PvMonitorEntity, SensorEntity):
    """A PV health figure (docs/pv-health.md) from the health tracker; unknown while it cannot be told."""

    _platform_domain = Platform.SENSOR
    _unrecorded_attributes = frozenset({"alerts_today"})
    entity_description: PvMonitorHealthDescription

    def __init__(
        self, data: PvMonitorData, device_id: str | None, description: PvMonitorHealthDescription
    ) -> None:
        """One per figure and inverter (device None: the collector's day)."""
        super().__init__(
            data, device_id, health_unique_id(data.state.collector_id, device_id, description.key)
        )
        self.entity_description = description

    @property
    @override
    def available(self) -> bool:
        """Daily figures stay available while the inverter sleeps or is offline; they are the day's."""
        return self.data.state.usable

    @property
    @override
    def native_value(self) -> float | None:
        """The figure now."""
        return self.entity_description.value_fn(self.data.health, self.contract_device_id)

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The collector's energy today carries the rest of the daily summary; an inverter's figure that
        is unknown says why (`reason`: `no_array`, `waiting`)."""
        if self.entity_description.attributes_fn is not None:
            return self.entity_description.attributes_fn(self.data.health)
        if self.contract_device_id is None or self.native_value is not None:
            return None
        return {
            "reason": self.data.health.unknown_reason(self.contract_device_id, self.entity_description.key)
        }
