"""Finding collectors on the broker: a short listen for retained announcements."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .const import SCAN_SECONDS
from .contract import InvalidPayload, parse_announcement, parse_state
from .messages import Announcement, Value
from .topics import Topics, collector_id_from_config_topic

_LOGGER = logging.getLogger(__package__)


async def async_scan_collectors(hass: HomeAssistant, base_topic: str) -> dict[str, Announcement]:
    """Collectors announcing under `<base_topic>/+/config` within SCAN_SECONDS, by collector id."""
    found: dict[str, Announcement] = {}

    @callback
    def _on_message(msg: mqtt.ReceiveMessage) -> None:
        parsed = collector_id_from_config_topic(msg.topic)
        if parsed is None or not msg.payload:
            return
        try:
            announcement = parse_announcement(msg.payload)
        except InvalidPayload as err:
            _LOGGER.warning("Ignoring announcement on %s: %s", msg.topic, err)
            return
        if announcement.collector.id == parsed[1]:
            found[parsed[1]] = announcement

    done: asyncio.Future[None] = hass.loop.create_future()

    @callback
    def _finish(_now: Any) -> None:
        if not done.done():
            done.set_result(None)

    cancel_timer = async_call_later(hass, SCAN_SECONDS, _finish)
    unsubscribe = await mqtt.async_subscribe(hass, f"{base_topic}/+/config", _on_message, 1)
    try:
        await done
    finally:
        unsubscribe()
        cancel_timer()
    return found


async def async_read_collector(
    hass: HomeAssistant, topics: Topics, announcement: Announcement
) -> tuple[Announcement, dict[str, dict[str, Value]]]:
    """The collector's latest retained announcement and its devices' retained values, by device id.

    A collector that just started announces a SunSpec device before its model scan (incomplete): this
    listens at most SCAN_SECONDS, less once the announcement is complete and every device with a
    `pv_power` point sent its state. `announcement` is the one known so far.
    """
    latest = announcement
    values: dict[str, dict[str, Value]] = {}
    done: asyncio.Future[None] = hass.loop.create_future()

    def complete() -> bool:
        inverters = {d.id for d in latest.devices if d.points_with_role("pv_power")}
        return not latest.incomplete and inverters <= values.keys()

    @callback
    def _on_message(msg: mqtt.ReceiveMessage) -> None:
        nonlocal latest
        try:
            if msg.topic == topics.config:
                parsed = parse_announcement(msg.payload)
                if parsed.collector.id == topics.collector_id:
                    latest = parsed
            elif (device_id := topics.device_of(msg.topic)) is not None:
                values[device_id] = parse_state(msg.payload).values
        except InvalidPayload:
            return
        if complete() and not done.done():
            done.set_result(None)

    @callback
    def _finish(_now: Any) -> None:
        if not done.done():
            done.set_result(None)

    cancel_timer = async_call_later(hass, SCAN_SECONDS, _finish)
    unsubscribes = [
        await mqtt.async_subscribe(hass, topics.config, _on_message, 1),
        await mqtt.async_subscribe(hass, topics.state_wildcard, _on_message, 1),
    ]
    try:
        await done
    finally:
        for unsubscribe in unsubscribes:
            unsubscribe()
        cancel_timer()
    return latest, values
