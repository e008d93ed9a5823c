"""Diagnostics: the entry, the announcement and what the hub knows, with secrets and serials redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.core import HomeAssistant

from .hub import PvMonitorConfigEntry

REDACTED = "**REDACTED**"
# Any key containing one of these is redacted, wherever it occurs.
SECRET_MARKERS = (
    "serial",
    "pass",
    "secret",
    "token",
    "credential",
    "username",
    "user_name",
    "api_key",
    "auth",
)


def redact(data: Any) -> Any:
    """Redact every value whose key looks like a secret or a serial number."""
    if isinstance(data, dict):
        return {
            key: REDACTED if any(marker in str(key).lower() for marker in SECRET_MARKERS) else redact(value)
            for key, value in data.items()
        }
    if isinstance(data, list | tuple):
        return [redact(item) for item in data]
    return data


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PvMonitorConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    hub = entry.runtime_data
    diagnostics: dict[str, Any] = redact(
        {
            "entry": {"title": entry.title, "data": dict(entry.data), "options": dict(entry.options)},
            "collector_online": hub.collector_online,
            "unsupported_contract": hub.unsupported_contract,
            "announcement": hub.announcement.raw if hub.announcement else None,
            "announcement_problems": list(hub.announcement.problems) if hub.announcement else [],
            "devices": {
                device_id: {
                    "availability": runtime.availability,
                    "last_seq": runtime.last_seq,
                    "last_ts": runtime.last_ts,
                    "values": dict(sorted(runtime.values.items())),
                    "inferred": sorted(runtime.inferred),
                }
                for device_id, runtime in sorted(hub.devices.items())
            },
            "stats": asdict(hub.stats) if hub.stats else None,
            "alerts": {
                f"{device_id or 'collector'}.{alert}": {
                    "active": state.active,
                    "reason": state.reason,
                    "value": state.value,
                }
                for (device_id, alert), state in sorted(
                    hub.alerts.items(), key=lambda item: (item[0][0] or "", item[0][1])
                )
            },
        }
    )
    return diagnostics
