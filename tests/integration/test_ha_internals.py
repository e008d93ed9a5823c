"""The adapter for what Home Assistant offers no Python entry point for (ha_internals.py).

Each test fails with a message naming the Home Assistant change when a release moves what the adapter
relies on; the fix then goes into ha_internals.py alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component

from custom_components.pv_monitor.ha_internals import (
    async_save_dashboard_config,
    async_write_automations,
    lovelace_dashboards,
)

from .test_automations import hass_config_dir  # noqa: F401  (automations.yaml included, as a fresh install)

CHANGED = "Home Assistant changed {what}; adapt custom_components/pv_monitor/ha_internals.py"


async def test_lovelace_dashboards_is_the_collection_behind_settings(
    hass: HomeAssistant, hass_ws_client: Any
) -> None:
    """The collection found is the one the frontend lists and creates dashboards in."""
    assert await async_setup_component(hass, "lovelace", {})
    try:
        collection = lovelace_dashboards(hass)
    except HomeAssistantError:
        pytest.fail(
            CHANGED.format(
                what="how Lovelace keeps its storage dashboards: the `lovelace/dashboards/list` websocket"
                " handler is no longer a method of an adapter holding `storage_collection`"
                " (homeassistant/components/lovelace/__init__.py)"
            )
        )
    await collection.async_create_item({"url_path": "pv-monitor-test", "title": "Test"})
    await async_save_dashboard_config(hass, "pv-monitor-test", {"views": [{"title": "Overview"}]})
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "lovelace/dashboards/list"})
    listed = (await client.receive_json())["result"]
    await client.send_json_auto_id({"type": "lovelace/config", "url_path": "pv-monitor-test"})
    saved = (await client.receive_json())["result"]
    assert [item["url_path"] for item in listed] == ["pv-monitor-test"], CHANGED.format(
        what="Lovelace's dashboards collection (a dashboard created in it is not listed)"
    )
    assert saved == {"views": [{"title": "Overview"}]}, CHANGED.format(
        what="how a storage dashboard's config is saved (`LOVELACE_DATA.dashboards[url].async_save`)"
    )


async def test_lovelace_missing_is_a_translated_error(hass: HomeAssistant) -> None:
    with pytest.raises(HomeAssistantError) as err:
        lovelace_dashboards(hass)
    assert err.value.translation_key == "lovelace_unavailable"


@pytest.mark.usefixtures("hass_config_dir")
async def test_automations_stored_as_the_editor_stores_them(hass: HomeAssistant, hass_client: Any) -> None:
    """The file written is the one the automation editor's config API writes for the same automation."""
    assert await async_setup_component(hass, "config", {})
    assert await async_setup_component(hass, "automation", {})
    config = {
        "alias": "PV Monitor alerts (Home PV)",
        "description": "Created by PV Monitor for collector home; edit freely.",
        "triggers": [{"trigger": "event", "event_type": "pv_monitor_alert"}],
        "actions": [{"action": "persistent_notification.create", "data": {"message": "alert"}}],
    }
    path = Path(hass.config.path("automations.yaml"))
    client = await hass_client()
    response = await client.post("/api/config/automation/config/pv_monitor_home_alerts", json=config)
    assert response.status == 200, CHANGED.format(
        what="the automation editor's config API (POST /api/config/automation/config/<id>,"
        " homeassistant/components/config/automation.py)"
    )
    await hass.async_block_till_done()
    by_editor = await hass.async_add_executor_job(path.read_text)

    await hass.async_add_executor_job(path.write_text, "[]\n")
    written = await async_write_automations(hass, {"pv_monitor_home_alerts": config})
    assert written == path, CHANGED.format(what="the automation editor's file (AUTOMATION_CONFIG_PATH)")
    assert await hass.async_add_executor_job(path.read_text) == by_editor, CHANGED.format(
        what="how the automation editor stores automations (config/automation.py `_write_value`)"
    )
