"""Finding collectors on the broker: a short listen for retained announcements."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .const import SCAN_SECONDS
from .contract import Announcement, InvalidPayload, collector_id_from_config_topic, parse_announcement

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
