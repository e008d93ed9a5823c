"""Binary sensors: the alerts (device class problem) and read-only bool points."""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .alerts import AlertType
from .catalogue import alert_unique_id, point_platform, point_unique_id
from .const import signal_new_entities
from .entity import PvMonitorEntity, PvMonitorPointEntity, point_description_fields
from .messages import DeviceDef, PointDef
from .models import PvMonitorConfigEntry, PvMonitorData

PARALLEL_UPDATES = 0

ALERT_DESCRIPTIONS: dict[AlertType, BinarySensorEntityDescription] = {
    alert: BinarySensorEntityDescription(
        key=str(alert), translation_key=str(alert), device_class=BinarySensorDeviceClass.PROBLEM
    )
    for alert in AlertType
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PvMonitorConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add alerts and bool points whenever the announcement brings new ones."""
    data = entry.runtime_data
    register = data.coordinator.async_register_entity

    @callback
    def _async_add_new() -> None:
        announcement = data.state.announcement
        if announcement is None:
            return
        cid = data.state.collector_id
        entities: list[Entity] = []
        if register(Platform.BINARY_SENSOR, alert_unique_id(cid, None, AlertType.COLLECTOR_OFFLINE)):
            entities.append(PvMonitorAlertSensor(data, None, AlertType.COLLECTOR_OFFLINE))
        for device in announcement.devices:
            entities.extend(
                PvMonitorAlertSensor(data, device.id, alert)
                for alert in data.alerts.alerts_for(device.id)
                if register(Platform.BINARY_SENSOR, alert_unique_id(cid, device.id, alert))
            )
            entities.extend(
                _bool_sensor(data, device, point)
                for point in device.points
                if point_platform(point) is Platform.BINARY_SENSOR
                and register(Platform.BINARY_SENSOR, point_unique_id(cid, device.id, point.key))
            )
        if entities:
            async_add_entities(entities)

    entry.async_on_unload(
        async_dispatcher_connect(
            hass, signal_new_entities(entry.entry_id, Platform.BINARY_SENSOR), _async_add_new
        )
    )


def _bool_sensor(data: PvMonitorData, device: DeviceDef, point: PointDef) -> PvMonitorBoolSensor:
    description = BinarySensorEntityDescription(
        **point_description_fields(point, device, Platform.BINARY_SENSOR)
    )
    return PvMonitorBoolSensor(data, device, point, description)


class PvMonitorBoolSensor(PvMonitorPointEntity, BinarySensorEntity):
    """A read-only bool point."""

    _platform_domain = Platform.BINARY_SENSOR

    @property
    @override
    def extra_state_attributes(self) -> dict[str, str] | None:
        """Which command switched it on, when one did (setting a power limit enables it)."""
        return self.switched_on_by

    @property
    @override
    def is_on(self) -> bool | None:
        """The point's value."""
        value = self.point_value
        return value if isinstance(value, bool) else None


class PvMonitorAlertSensor(PvMonitorEntity, BinarySensorEntity):
    """One alert of a device (or of the collector); its attributes say why."""

    _platform_domain = Platform.BINARY_SENSOR
    _unrecorded_attributes = frozenset(
        {
            "message",
            "value",
            "readings",
            "expected",
            "percent",
            "power",
            "soc",
            "fault_codes",
            "siblings_mean",
            "sun_elevation",
            "below_since",
            "cleared_at",
        }
    )

    def __init__(self, data: PvMonitorData, device_id: str | None, alert: AlertType) -> None:
        """One per alert and device."""
        super().__init__(data, device_id, alert_unique_id(data.state.collector_id, device_id, alert))
        self.alert = alert
        self.entity_description = ALERT_DESCRIPTIONS[alert]

    @property
    @override
    def available(self) -> bool:
        """Collector offline: always shown. Device offline: shown while the collector is online."""
        state = self.data.state
        if self.alert is AlertType.COLLECTOR_OFFLINE:
            return state.usable
        if self.alert is AlertType.DEVICE_OFFLINE:
            return state.usable and state.online is True
        return super().available

    @property
    @override
    def is_on(self) -> bool | None:
        """Active, inactive, or None while not known."""
        state = self.data.alerts.state_of(self.contract_device_id, self.alert)
        return None if state is None else state.active

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Why: a stable reason code, its sentence (translated), the value and the details of the rule."""
        state = self.data.alerts.state_of(self.contract_device_id, self.alert)
        if state is None:
            reason = self.data.alerts.unknown_reason(self.contract_device_id, self.alert)
            return None if reason is None else {"reason": reason}
        message = self.data.alerts.message(self.alert, state)
        return {"reason": state.reason, "message": message, "value": state.value, **state.details}
