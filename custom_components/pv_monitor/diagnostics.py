"""Diagnostics: the entry, the announcement and what the integration knows, with secrets and serials
redacted by Home Assistant's `async_redact_data`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Final

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .models import PvMonitorConfigEntry

# Keys redacted wherever they occur (the announcement passes through keys a newer collector may add).
TO_REDACT: Final = frozenset(
    {
        "serial",
        "serial_number",
        "password",
        "mqtt_password",
        "username",
        "user_name",
        "credentials",
        "secret",
        "token",
        "access_token",
        "api_key",
        "auth",
    }
)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PvMonitorConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    data = entry.runtime_data
    state = data.state
    announcement = state.announcement
    diagnostics: dict[str, Any] = {
        "entry": {"title": entry.title, "data": dict(entry.data), "options": dict(entry.options)},
        "collector_online": state.online,
        "unsupported_contract": state.unsupported_contract,
        "announcement": announcement.raw if announcement else None,
        "announcement_problems": list(announcement.problems) if announcement else [],
        "devices": {
            device_id: {
                "availability": runtime.availability,
                "last_seq": runtime.last_seq,
                "last_ts": runtime.last_ts,
                "values": dict(sorted(runtime.values.items())),
                "inferred": sorted(runtime.inferred),
                # lower counter readings not marked as a reset, kept out (total_increasing guard)
                "counter_decreases_kept_out": dict(sorted(runtime.guarded.items())),
            }
            for device_id, runtime in sorted(state.devices.items())
        },
        "stats": asdict(state.stats) if state.stats else None,
        "alerts": {
            f"{device_id or 'collector'}.{alert}": {
                "active": alert_state.active,
                "reason": alert_state.reason,
                "value": alert_state.value,
            }
            for (device_id, alert), alert_state in sorted(
                data.alerts.alerts.items(), key=lambda item: (item[0][0] or "", item[0][1])
            )
        },
    }
    redacted: dict[str, Any] = async_redact_data(diagnostics, TO_REDACT)
    return redacted
