"""The only places where this integration reaches past Home Assistant's public APIs.

Home Assistant offers no Python entry point for two things the options flow does; each is done here,
in one function, and tests/integration/test_ha_internals.py fails with a message naming the change when
a new Home Assistant release moves what it relies on (checked against 2026.10 and 2026.11):

- Lovelace keeps its collection of storage dashboards only behind its websocket commands
  (`lovelace/dashboards/*`, homeassistant/components/lovelace/__init__.py); the handler registered for
  `lovelace/dashboards/list` is a method of the collection's websocket adapter, which holds it.
- The automation editor writes `automations.yaml` through its HTTP config API
  (`/api/config/automation/config/<id>`, homeassistant/components/config/automation.py), which needs an
  admin's request. `async_write_automations` writes the file the way that view does (a list of
  automations, replaced by `id`, ordered keys) and reloads them with the public `automation.reload`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Final

from homeassistant.components import websocket_api
from homeassistant.components.lovelace.const import LOVELACE_DATA
from homeassistant.components.lovelace.dashboard import DashboardsCollection
from homeassistant.config import AUTOMATION_CONFIG_PATH
from homeassistant.const import CONF_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util.file import write_utf8_file_atomic
from homeassistant.util.yaml import dump, load_yaml

from .const import DOMAIN

LOVELACE_LIST_COMMAND: Final = "lovelace/dashboards/list"
# The keys the automation editor writes first, in its order (config/automation.py `_write_value`).
AUTOMATION_KEY_ORDER: Final = (
    "alias",
    "description",
    "triggers",
    "trigger",
    "conditions",
    "condition",
    "actions",
    "action",
)

_WRITE_LOCK: Final = asyncio.Lock()


def lovelace_dashboards(hass: HomeAssistant) -> DashboardsCollection:
    """Lovelace's collection of storage dashboards (the one behind Settings → Dashboards).

    Raises `HomeAssistantError` (`lovelace_unavailable`) when Lovelace is not loaded or keeps it elsewhere.
    """
    handlers: dict[str, tuple[Any, Any]] = hass.data.get(websocket_api.DOMAIN, {})
    handler = handlers.get(LOVELACE_LIST_COMMAND, (None, None))[0]
    collection = getattr(getattr(handler, "__self__", None), "storage_collection", None)
    if LOVELACE_DATA not in hass.data or not isinstance(collection, DashboardsCollection):
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="lovelace_unavailable")
    return collection


async def async_save_dashboard_config(hass: HomeAssistant, url_path: str, config: dict[str, Any]) -> None:
    """Store the config of a storage dashboard that `lovelace_dashboards` created."""
    await hass.data[LOVELACE_DATA].dashboards[url_path].async_save(config)


def editor_entry(automation_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """An automation as the editor stores it: `id` and its known keys first, then the rest."""
    ordered: dict[str, Any] = {CONF_ID: automation_id}
    ordered.update((key, config[key]) for key in AUTOMATION_KEY_ORDER if key in config)
    ordered.update(config)
    return ordered


def _upsert(path: Path, configs: dict[str, dict[str, Any]]) -> None:
    """Write automations into the editor's file, replacing those with the same id."""
    current = load_yaml(str(path)) if path.is_file() else None
    data: list[dict[str, Any]] = current if isinstance(current, list) else []
    for automation_id, config in configs.items():
        entry = editor_entry(automation_id, config)
        for index, existing in enumerate(data):
            if isinstance(existing, dict) and existing.get(CONF_ID) == automation_id:
                data[index] = entry
                break
        else:
            data.append(entry)
    write_utf8_file_atomic(str(path), dump(data))


async def async_write_automations(hass: HomeAssistant, configs: dict[str, dict[str, Any]]) -> Path:
    """Add or replace automations (by id) in the automation editor's file; returns the file's path.

    The caller validates them first and reloads them afterwards (`automation.reload` with their ids).
    """
    path = Path(hass.config.path(AUTOMATION_CONFIG_PATH))
    async with _WRITE_LOCK:
        await hass.async_add_executor_job(_upsert, path, configs)
    return path
