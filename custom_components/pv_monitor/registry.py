"""The device and entity registries follow the announcement: one device per collector and per Modbus
device, and no entity or device the collector no longer announces (stale devices removed)."""

from __future__ import annotations

import logging
from collections.abc import Collection

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from .alerts import AlertType, device_alerts
from .catalogue import (
    alert_unique_id,
    collector_identifier,
    connection_unique_id,
    device_identifier,
    health_unique_id,
    point_platform,
    point_unique_id,
    stat_unique_id,
)
from .const import DOMAIN
from .messages import Announcement
from .sensor import HEALTH_DESCRIPTIONS, STAT_DESCRIPTIONS, SUMMARY_DESCRIPTIONS

_LOGGER = logging.getLogger(__package__)


def expected_entities(announcement: Announcement, arrays: Collection[str] = ()) -> set[tuple[Platform, str]]:
    """Every (platform, unique id) the announcement (and the arrays configured) yields."""
    cid = announcement.collector.id
    expected: set[tuple[Platform, str]] = {
        (Platform.BINARY_SENSOR, alert_unique_id(cid, None, AlertType.COLLECTOR_OFFLINE))
    }
    expected.update((Platform.SENSOR, stat_unique_id(cid, d.key)) for d in STAT_DESCRIPTIONS)
    expected.update(
        (Platform.SENSOR, health_unique_id(cid, None, d.key))
        for d in SUMMARY_DESCRIPTIONS
        # a device announced incomplete (pending) may have the roles a figure needs: keep it
        if announcement.incomplete or d.announced_fn(announcement)
    )
    for device in announcement.devices:
        expected.add((Platform.SENSOR, connection_unique_id(cid, device.id)))
        expected.update(
            (Platform.BINARY_SENSOR, alert_unique_id(cid, device.id, alert))
            for alert in device_alerts(device, announcement, arrays)
        )
        expected.update(
            (Platform.SENSOR, health_unique_id(cid, device.id, d.key))
            for d in HEALTH_DESCRIPTIONS
            if d.exists_fn(device)
        )
        expected.update(
            (point_platform(point), point_unique_id(cid, device.id, point.key)) for point in device.points
        )
    return expected


@callback
def async_sync_registries(
    hass: HomeAssistant, entry_id: str, announcement: Announcement, arrays: Collection[str]
) -> None:
    """Create or update the collector's and the devices' registry entries; remove the devices and
    entities the announcement no longer describes (devices announced incomplete keep theirs)."""
    device_registry = dr.async_get(hass)
    cid = announcement.collector.id
    collector = device_registry.async_get_or_create(
        config_entry_id=entry_id,
        identifiers={(DOMAIN, collector_identifier(cid))},
        manufacturer="PV Monitor",
        model="Collector",
        name=announcement.collector.name,
        sw_version=announcement.collector.version,
    )
    keep = {collector.id}
    for device in announcement.devices:
        registered = device_registry.async_get_or_create(
            config_entry_id=entry_id,
            identifiers={(DOMAIN, device_identifier(cid, device.id))},
            manufacturer=device.manufacturer,
            model=device.model,
            name=device.name,
            serial_number=device.serial,
            sw_version=device.firmware,
            via_device_id=collector.id,
        )
        keep.add(registered.id)
    keep_identifiers = {(DOMAIN, device_identifier(cid, did)) for did in announcement.incomplete}
    for stale in dr.async_entries_for_config_entry(device_registry, entry_id):
        if stale.id not in keep and not stale.identifiers & keep_identifiers:
            _LOGGER.info("Removing device %s: collector %s no longer announces it", stale.name, cid)
            device_registry.async_remove_device(stale.id)
    entity_registry = er.async_get(hass)
    expected = expected_entities(announcement, arrays)
    incomplete_devices = {
        incomplete.id
        for did in announcement.incomplete
        if (
            incomplete := device_registry.async_get_device_by_identifier(
                (DOMAIN, device_identifier(cid, did)), entry_id
            )
        )
    }
    for entity in er.async_entries_for_config_entry(entity_registry, entry_id):
        if (Platform(entity.domain), entity.unique_id) in expected or entity.device_id in incomplete_devices:
            continue
        _LOGGER.info("Removing %s: collector %s no longer announces it", entity.entity_id, cid)
        entity_registry.async_remove(entity.entity_id)


@callback
def registry_device_id(
    hass: HomeAssistant, entry_id: str, collector_id: str, device_id: str | None
) -> str | None:
    """The device registry id of a contract device (None: of the collector) of an entry."""
    identifier = (
        collector_identifier(collector_id)
        if device_id is None
        else device_identifier(collector_id, device_id)
    )
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, identifier), entry_id)
    return device.id if device else None


def announces(announcement: Announcement | None, device_entry: dr.DeviceEntry) -> bool:
    """True when the announcement describes this registry device (the collector or one of its devices):
    such a device cannot be deleted by the user."""
    if announcement is None:
        return False
    cid = announcement.collector.id
    current = {(DOMAIN, collector_identifier(cid))} | {
        (DOMAIN, device_identifier(cid, device.id)) for device in announcement.devices
    }
    return bool(device_entry.identifiers & current)
