"""Ready automations from the shipped blueprints, stored where the automation editor keeps its own.

The blueprints ship inside this package (`blueprints/automation/pv_monitor/`, byte-identical copies of
the repository's `blueprints/` folder) and are copied into the configuration's blueprint folder when
absent (an existing file, perhaps edited by the user, is left alone). The automations are validated
with the automation integration's own validator, stored as the editor stores them
(`ha_internals.async_write_automations`: Home Assistant has no Python entry point for that) and
reloaded, so they appear, editable, in the automation editor. Running it again updates them instead of
adding more.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import probatio as vol
from homeassistant.components.automation.config import async_validate_config_item
from homeassistant.components.automation.const import DOMAIN as AUTOMATION_DOMAIN
from homeassistant.const import CONF_ID, SERVICE_RELOAD, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er

from .catalogue import health_unique_id
from .const import DOMAIN
from .ha_internals import async_write_automations
from .models import PvMonitorData

BLUEPRINT_FOLDER: Final = Path("blueprints") / "automation" / DOMAIN
SHIPPED_BLUEPRINTS: Final = Path(__file__).parent / BLUEPRINT_FOLDER
ALERT_BLUEPRINT: Final = f"{DOMAIN}/alert_telegram.yaml"
SUMMARY_BLUEPRINT: Final = f"{DOMAIN}/daily_summary_telegram.yaml"


@dataclass(frozen=True, slots=True, kw_only=True)
class AutomationRequest:
    """What the user chose: where messages go and what they are about."""

    notify_entities: list[str]
    chat_id: str
    alerts: list[str]
    daily_summary: bool = False


def alerts_automation_id(collector_id: str) -> str:
    """Id (in automations.yaml) of a collector's alert automation."""
    return f"{DOMAIN}_{collector_id}_alerts"


def summary_automation_id(collector_id: str) -> str:
    """Id of a collector's daily summary automation."""
    return f"{DOMAIN}_{collector_id}_daily_summary"


def _install_blueprints(config_dir: Path) -> list[str]:
    """Copy the shipped blueprints that are missing; returns the names copied."""
    target = config_dir / BLUEPRINT_FOLDER
    target.mkdir(parents=True, exist_ok=True)
    copied: list[str] = []
    for source in sorted(SHIPPED_BLUEPRINTS.glob("*.yaml")):
        if not (target / source.name).exists():
            shutil.copyfile(source, target / source.name)
            copied.append(source.name)
    return copied


async def async_install_blueprints(hass: HomeAssistant) -> list[str]:
    """Make the shipped blueprints available in `<config>/blueprints/automation/pv_monitor/`."""
    return await hass.async_add_executor_job(_install_blueprints, Path(hass.config.config_dir))


def _target_inputs(request: AutomationRequest) -> dict[str, Any]:
    if request.notify_entities:
        return {"telegram_target": list(request.notify_entities)}
    return {"chat_id": request.chat_id}


def automation_configs(
    hass: HomeAssistant, data: PvMonitorData, request: AutomationRequest
) -> dict[str, dict[str, Any]]:
    """The automations (by id) for a collector and the user's choices."""
    cid = data.state.collector_id
    name = data.state.collector_name
    configs: dict[str, dict[str, Any]] = {
        alerts_automation_id(cid): {
            "alias": f"PV Monitor alerts ({name})",
            "description": f"Created by PV Monitor for collector {cid}; edit freely.",
            "use_blueprint": {
                "path": ALERT_BLUEPRINT,
                "input": {"alerts": list(request.alerts), **_target_inputs(request)},
            },
        }
    }
    summary = er.async_get(hass).async_get_entity_id(
        Platform.SENSOR, DOMAIN, health_unique_id(cid, None, "pv_energy_today")
    )
    if request.daily_summary and summary is not None:
        # The collector's "Production today" carries every figure and the alerts that went on today.
        configs[summary_automation_id(cid)] = {
            "alias": f"PV Monitor daily summary ({name})",
            "description": f"Created by PV Monitor for collector {cid}; edit freely.",
            "use_blueprint": {
                "path": SUMMARY_BLUEPRINT,
                "input": {"summary_sensor": summary, **_target_inputs(request)},
            },
        }
    return configs


async def async_create_automations(
    hass: HomeAssistant, data: PvMonitorData, request: AutomationRequest
) -> list[str]:
    """Install the blueprints, write the automations and load them; returns their ids.

    Raises `HomeAssistantError` (`automation_unavailable`, `automation_invalid`, `automations_not_loaded`).
    """
    if AUTOMATION_DOMAIN not in hass.config.components:
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="automation_unavailable")
    await async_install_blueprints(hass)
    configs = automation_configs(hass, data, request)
    for automation_id, config in configs.items():
        try:
            await async_validate_config_item(hass, automation_id, {CONF_ID: automation_id, **config})
        except (vol.Invalid, HomeAssistantError) as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="automation_invalid",
                translation_placeholders={"error": str(err)},
            ) from err
    path = await async_write_automations(hass, configs)
    registry = er.async_get(hass)
    for automation_id in configs:
        await hass.services.async_call(
            AUTOMATION_DOMAIN, SERVICE_RELOAD, {CONF_ID: automation_id}, blocking=True
        )
        if registry.async_get_entity_id(AUTOMATION_DOMAIN, AUTOMATION_DOMAIN, automation_id) is None:
            # configuration.yaml does not have `automation: !include automations.yaml`
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="automations_not_loaded",
                translation_placeholders={"file": path.name},
            )
    return list(configs)
