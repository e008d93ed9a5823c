"""Repair issues of the integration (strings.json `issues`), kept apart from entity code.

The module is not called `repairs.py`: Home Assistant imports a module of that name as the integration's
repairs platform, which must offer fix flows; these issues are not fixable, the user acts on them.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import (
    DOMAIN,
    ISSUE_DUPLICATE_COLLECTOR,
    ISSUE_HA_DISCOVERY,
    ISSUE_MQTT_NOT_SETUP,
    ISSUE_UNSUPPORTED_CONTRACT,
)
from .messages import CONTRACT_VERSION, Announcement

_LOGGER = logging.getLogger(__package__)

MQTT_DOCS: Final = "https://www.home-assistant.io/integrations/mqtt/"
# Announcements from an instance that was replaced and came back within this time: two collectors.
DUPLICATE_WINDOW: Final = timedelta(minutes=10)
# Issues about one collector; they end with its entry.
COLLECTOR_ISSUES: Final = (ISSUE_UNSUPPORTED_CONTRACT, ISSUE_DUPLICATE_COLLECTOR)


def _issue_id(issue: str, collector_id: str) -> str:
    return f"{issue}_{collector_id}"


@callback
def _async_set_issue(
    hass: HomeAssistant,
    issue_id: str,
    present: bool,
    *,
    severity: ir.IssueSeverity,
    translation_key: str,
    placeholders: dict[str, str] | None = None,
    learn_more_url: str | None = None,
) -> None:
    """Raise the issue, or remove it when the condition is gone (the user fixes these, not a flow)."""
    if not present:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=severity,
        translation_key=translation_key,
        translation_placeholders=placeholders,
        learn_more_url=learn_more_url,
    )


@callback
def async_report_mqtt_missing(hass: HomeAssistant, missing: bool) -> None:
    """MQTT is not set up (an error issue) or is again (the issue goes)."""
    _async_set_issue(
        hass,
        ISSUE_MQTT_NOT_SETUP,
        missing,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_MQTT_NOT_SETUP,
        learn_more_url=MQTT_DOCS,
    )


@callback
def async_report_contract(hass: HomeAssistant, collector_id: str, announcement: Announcement | None) -> None:
    """An announcement in a contract version this integration does not support is an error issue; a
    supported one (or None) removes it."""
    _async_set_issue(
        hass,
        _issue_id(ISSUE_UNSUPPORTED_CONTRACT, collector_id),
        announcement is not None and not announcement.supported,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_UNSUPPORTED_CONTRACT,
        placeholders=None
        if announcement is None
        else {
            "collector": announcement.collector.name,
            "version": str(announcement.contract),
            "supported": str(CONTRACT_VERSION),
        },
    )


@callback
def async_report_ha_discovery(hass: HomeAssistant, announcement: Announcement) -> None:
    """A collector that also publishes standard MQTT discovery makes every entity twice: say so."""
    _async_set_issue(
        hass,
        _issue_id(ISSUE_HA_DISCOVERY, announcement.collector.id),
        announcement.collector.ha_discovery,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_HA_DISCOVERY,
        placeholders={"collector": announcement.collector.name},
    )


@callback
def async_clear_collector_issues(hass: HomeAssistant, collector_id: str) -> None:
    """The entry unloads: its collector's issues are re-evaluated by the next set-up."""
    for issue in COLLECTOR_ISSUES:
        ir.async_delete_issue(hass, DOMAIN, _issue_id(issue, collector_id))


class DuplicateCollectorDetector:
    """Two collectors running with one id announce in turns: A, B, A again. A restart is A, B, B."""

    def __init__(self, hass: HomeAssistant, collector_id: str) -> None:
        """No announcement seen yet."""
        self.hass = hass
        self.collector_id = collector_id
        self._instances: list[tuple[str, datetime]] = []  # recent instance tokens, newest last

    @callback
    def observe(self, announcement: Announcement) -> None:
        """Look at an announcement's instance token; raise the issue when an older one comes back."""
        instance = announcement.collector.instance
        if instance is None:
            return
        now = dt_util.utcnow()
        seen = self._instances
        if seen and seen[-1][0] == instance:
            seen[-1] = (instance, now)
            return
        back = any(token == instance and now - when < DUPLICATE_WINDOW for token, when in seen[:-1])
        seen.append((instance, now))
        del seen[:-3]
        if not back:
            return
        _LOGGER.error(
            "Two collectors announce themselves as %s (instances %s); give each its own collector id",
            self.collector_id,
            ", ".join(sorted({token for token, _ in seen})),
        )
        _async_set_issue(
            self.hass,
            _issue_id(ISSUE_DUPLICATE_COLLECTOR, self.collector_id),
            True,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_DUPLICATE_COLLECTOR,
            placeholders={"collector": announcement.collector.name, "id": self.collector_id},
        )
