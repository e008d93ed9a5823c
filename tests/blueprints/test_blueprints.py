"""The repository's automation blueprints, loaded and run by Home Assistant's real automation engine."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation import DATA_COMPONENT as AUTOMATION_ENTITIES
from homeassistant.components.automation import AutomationEntity
from homeassistant.components.automation.helpers import async_get_blueprints
from homeassistant.components.blueprint import models
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.helpers.sun import get_astral_event_next
from homeassistant.setup import async_setup_component
from homeassistant.util import yaml as yaml_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed, async_mock_service

BLUEPRINTS = Path(__file__).parents[2] / "blueprints" / "automation"
ALERT = "pv_monitor/alert_telegram.yaml"
SUMMARY = "pv_monitor/daily_summary_telegram.yaml"
TZ = ZoneInfo("Europe/Berlin")


@contextmanager
def repo_blueprints() -> Iterator[None]:
    """Make HA load automation blueprints from this repository's blueprints/ folder."""

    def load(self: models.DomainBlueprints, path: str) -> models.Blueprint:
        data = yaml_util.load_yaml_dict(BLUEPRINTS / path)
        return models.Blueprint(data, expected_domain=self.domain, path=path, schema=self._blueprint_schema)

    with patch.object(models.DomainBlueprints, "_load_blueprint", load):
        yield


@pytest.fixture
async def telegram(hass: HomeAssistant) -> list[ServiceCall]:
    """Capture telegram_bot.send_message calls."""
    await hass.config.async_set_time_zone("Europe/Berlin")
    return async_mock_service(hass, "telegram_bot", "send_message")


async def setup_alert_automation(hass: HomeAssistant, **inputs: Any) -> None:
    """Create one automation from the alert blueprint with the given inputs."""
    with repo_blueprints():
        assert await async_setup_component(
            hass,
            "automation",
            {
                "automation": {
                    "id": "pv_alerts",
                    "alias": "PV alerts",
                    "use_blueprint": {"path": ALERT, "input": {"chat_id": "12345", **inputs}},
                }
            },
        )
        await hass.async_block_till_done()
    state = hass.states.get("automation.pv_alerts")
    assert state is not None
    assert state.state == "on", state.attributes


def fire_alert(hass: HomeAssistant, alert: str, *, active: bool = True, **extra: Any) -> None:
    hass.bus.async_fire(
        "pv_monitor_alert",
        {
            "entry_id": "entry",
            "collector_id": "home",
            "device_id": "no-such-device",
            "device": "inverter",
            "alert": alert,
            "active": active,
            "message": "ground_fault",
            **extra,
        },
    )


@pytest.mark.parametrize("path", [ALERT, SUMMARY])
async def test_blueprint_loads_and_validates(hass: HomeAssistant, path: str) -> None:
    """Each blueprint passes Home Assistant's blueprint schema for automations."""
    assert await async_setup_component(hass, "automation", {})
    with repo_blueprints():
        blueprint = await async_get_blueprints(hass).async_get_blueprint(path)
    assert blueprint.domain == "automation"
    assert blueprint.metadata["source_url"].endswith(path)
    assert blueprint.inputs


async def test_alert_sends_exactly_one_message(hass: HomeAssistant, telegram: list[ServiceCall]) -> None:
    """An alert event sends one Telegram message with the alert, the device and the reason."""
    await setup_alert_automation(hass)
    fire_alert(hass, "inverter_fault")
    await hass.async_block_till_done()
    assert len(telegram) == 1
    data = telegram[0].data
    assert data["chat_id"] == 12345  # templates render native types; Telegram takes the number
    assert data["message"] == "⚠️ PV Monitor: Inverter fault on — inverter: ground_fault"


async def test_alert_uses_notify_entity_when_chosen(hass: HomeAssistant, telegram: list[ServiceCall]) -> None:
    await setup_alert_automation(hass, telegram_target=["notify.family_chat"])
    fire_alert(hass, "battery_low", message="")
    await hass.async_block_till_done()
    assert len(telegram) == 1
    assert telegram[0].data["entity_id"] == ["notify.family_chat"]
    assert "chat_id" not in telegram[0].data
    assert telegram[0].data["message"] == "⚠️ PV Monitor: Battery low on — inverter"


async def test_unselected_and_cleared_alerts_are_silent(
    hass: HomeAssistant, telegram: list[ServiceCall]
) -> None:
    await setup_alert_automation(hass, alerts=["inverter_fault"])
    fire_alert(hass, "grid_voltage")
    fire_alert(hass, "inverter_fault", active=False)
    await hass.async_block_till_done()
    assert telegram == []


async def test_cleared_alert_notifies_when_asked(hass: HomeAssistant, telegram: list[ServiceCall]) -> None:
    await setup_alert_automation(hass, notify_cleared=True)
    fire_alert(hass, "device_offline", active=False, message="")
    await hass.async_block_till_done()
    assert [c.data["message"] for c in telegram] == ["✅ PV Monitor: Device offline cleared — inverter"]


async def test_cooldown_suppresses_repeats(
    hass: HomeAssistant, telegram: list[ServiceCall], freezer: FrozenDateTimeFactory
) -> None:
    """A flapping alert within the cool-down sends one message; after the cool-down it sends again."""
    freezer.move_to(datetime(2026, 6, 1, 12, 0, tzinfo=TZ))
    await setup_alert_automation(hass, cooldown=30)
    fire_alert(hass, "inverter_fault", previous_activation=None)
    await hass.async_block_till_done()
    first = datetime(2026, 6, 1, 12, 0, tzinfo=TZ)
    freezer.tick(timedelta(minutes=5))
    fire_alert(hass, "inverter_fault", previous_activation=first.isoformat())
    await hass.async_block_till_done()
    assert len(telegram) == 1
    freezer.tick(timedelta(minutes=40))
    fire_alert(hass, "inverter_fault", previous_activation=first.isoformat())
    await hass.async_block_till_done()
    assert len(telegram) == 2


def watch_for_step(hass: HomeAssistant, entity_id: str, step: str) -> asyncio.Event:
    """Set once a run of the automation reaches a step whose description starts with `step` (core's
    `async_watch_for_action` idiom: the script's change listener). For runs that stay waiting, which
    `async_block_till_done` would wait for forever."""
    entity = hass.data[AUTOMATION_ENTITIES].get_entity(entity_id)
    assert isinstance(entity, AutomationEntity)
    script = entity.action_script
    write_state = script.change_listener
    reached = asyncio.Event()

    @callback
    def listener() -> None:
        if write_state is not None:
            write_state()
        if (script.last_action or "").startswith(step):
            reached.set()

    script.change_listener = listener
    return reached


async def first_of(reached: asyncio.Event, telegram: asyncio.Event) -> None:
    """Wait until the run reaches its step or a message goes out, whichever comes first."""
    waits = [asyncio.ensure_future(reached.wait()), asyncio.ensure_future(telegram.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for wait in waits:
        wait.cancel()


def running_runs(hass: HomeAssistant) -> int:
    state = hass.states.get("automation.pv_alerts")
    assert state is not None
    return int(state.attributes.get("current", 0))


async def test_quiet_hours_hold_messages(
    hass: HomeAssistant, telegram: list[ServiceCall], freezer: FrozenDateTimeFactory
) -> None:
    """During quiet hours (across midnight) the message waits and goes out when they end."""
    freezer.move_to(datetime(2026, 6, 1, 23, 30, tzinfo=TZ))
    await setup_alert_automation(hass, quiet_start="22:00:00", quiet_end="07:00:00")
    sent = asyncio.Event()
    hass.bus.async_listen_once("call_service", lambda _event: sent.set())
    waiting = watch_for_step(hass, "automation.pv_alerts", "wait for trigger")
    fire_alert(hass, "collector_offline", message="")
    await first_of(waiting, sent)
    assert (waiting.is_set(), telegram) == (True, [])  # the run waits for the end of quiet hours
    assert running_runs(hass) == 1
    freezer.move_to(datetime(2026, 6, 2, 6, 59, tzinfo=TZ))
    async_fire_time_changed(hass)
    assert telegram == []
    assert running_runs(hass) == 1
    freezer.move_to(datetime(2026, 6, 2, 7, 0, 1, tzinfo=TZ))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert [c.data["message"] for c in telegram] == ["⚠️ PV Monitor: Collector offline on — inverter"]
    assert running_runs(hass) == 0


async def test_outside_quiet_hours_sends_at_once(
    hass: HomeAssistant, telegram: list[ServiceCall], freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(datetime(2026, 6, 1, 12, 0, tzinfo=TZ))
    await setup_alert_automation(hass, quiet_start="22:00:00", quiet_end="07:00:00")
    fire_alert(hass, "grid_frequency", message="50.6 Hz")
    await hass.async_block_till_done()
    assert [c.data["message"] for c in telegram] == [
        "⚠️ PV Monitor: Grid frequency out of range on — inverter: 50.6 Hz"
    ]


@pytest.mark.parametrize("expected_lingering_timers", [True])  # the automation waits for the next sunset
async def test_daily_summary_at_sunset(
    hass: HomeAssistant, telegram: list[ServiceCall], freezer: FrozenDateTimeFactory
) -> None:
    """At sunset the summary reports energy, expected energy, ratio, peak, self-consumption and alerts."""
    freezer.move_to(datetime(2026, 6, 1, 12, 0, tzinfo=TZ))
    hass.states.async_set("sensor.pv_energy_today", "18.4", {"device_class": "energy"})
    hass.states.async_set("sensor.pv_expected_today", "23.0", {"device_class": "energy"})
    hass.states.async_set("sensor.pv_peak_today", "4321.4", {"device_class": "power"})
    hass.states.async_set("sensor.grid_export_today", "9.2", {"device_class": "energy"})
    hass.states.async_set("binary_sensor.inverter_fault", "on", {"friendly_name": "Inverter fault"})
    hass.states.async_set("binary_sensor.battery_low_charge", "off", {"friendly_name": "Battery low charge"})
    with repo_blueprints():
        assert await async_setup_component(
            hass,
            "automation",
            {
                "automation": {
                    "id": "pv_summary",
                    "alias": "PV summary",
                    "use_blueprint": {
                        "path": SUMMARY,
                        "input": {
                            "energy_today": "sensor.pv_energy_today",
                            "expected_today": "sensor.pv_expected_today",
                            "peak_power": "sensor.pv_peak_today",
                            "export_today": "sensor.grid_export_today",
                            "alert_sensors": [
                                "binary_sensor.inverter_fault",
                                "binary_sensor.battery_low_charge",
                            ],
                            "telegram_target": ["notify.family_chat"],
                        },
                    },
                }
            },
        )
        await hass.async_block_till_done()
    sunset = get_astral_event_next(hass, "sunset")
    freezer.move_to(sunset - timedelta(seconds=5))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert telegram == []
    freezer.move_to(sunset + timedelta(seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert len(telegram) == 1
    assert telegram[0].data["message"] == (
        "☀️ PV today: 18.40 kWh, expected 23.00 kWh (performance ratio 80 %), peak 4321 W, "
        "self-consumption 50 %. Alerts today: Inverter fault."
    )


async def test_collector_filter(hass: HomeAssistant, telegram: list[ServiceCall]) -> None:
    """With a collector id set, alerts of other collectors send nothing."""
    await setup_alert_automation(hass, collector_id="home")
    hass.bus.async_fire(
        "pv_monitor_alert",
        {
            "collector_id": "garage",
            "device_id": None,
            "device": "inverter",
            "alert": "inverter_fault",
            "active": True,
            "message": "",
        },
    )
    await hass.async_block_till_done()
    assert telegram == []
    fire_alert(hass, "inverter_fault", message="")
    await hass.async_block_till_done()
    assert len(telegram) == 1


@pytest.mark.parametrize("expected_lingering_timers", [True])  # the automation waits for the next sunset
async def test_daily_summary_from_the_summary_sensor(
    hass: HomeAssistant, telegram: list[ServiceCall], freezer: FrozenDateTimeFactory
) -> None:
    """With PV Monitor's "PV energy today" sensor every figure and the day's alerts come from it."""
    freezer.move_to(datetime(2026, 6, 1, 12, 0, tzinfo=TZ))
    hass.states.async_set(
        "sensor.home_pv_energy_today",
        "12.5",
        {
            "device_class": "energy",
            "expected_energy_today": 25.0,
            "performance_ratio": 50.0,
            "peak_power": 3999.6,
            "grid_export_today": 2.5,
            "self_consumption": 80.0,
            "alerts_today": [  # as the alert engine records them
                {
                    "alert": "string_imbalance",
                    "device": "inverter",
                    "name": "Inverter",
                    "time": "2026-06-01T10:00:00+02:00",
                    "reason": "string_below_siblings",
                    "placeholders": {},
                    "message": "Inverter: string 2 produces 800 W, 40 % below the other strings (1333 W)",
                },
            ],
        },
    )
    with repo_blueprints():
        assert await async_setup_component(
            hass,
            "automation",
            {
                "automation": {
                    "id": "pv_summary",
                    "alias": "PV summary",
                    "use_blueprint": {
                        "path": SUMMARY,
                        "input": {"summary_sensor": "sensor.home_pv_energy_today", "chat_id": "42"},
                    },
                }
            },
        )
        await hass.async_block_till_done()
    freezer.move_to(get_astral_event_next(hass, "sunset") + timedelta(seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert [c.data["message"] for c in telegram] == [
        "☀️ PV today: 12.50 kWh, expected 25.00 kWh (performance ratio 50 %), peak 4000 W, "
        "self-consumption 80 %. Alerts today: Inverter: string 2 produces 800 W, 40 % below the other strings"
        " (1333 W)."
    ]
    assert telegram[0].data["chat_id"] == 42


@pytest.mark.parametrize("expected_lingering_timers", [True])  # the automation waits for the next sunset
async def test_daily_summary_after_a_restart_lists_only_the_alerts_that_went_on(
    hass: HomeAssistant, telegram: list[ServiceCall], freezer: FrozenDateTimeFactory
) -> None:
    """Home Assistant restarted in the afternoon: every alert sensor changed today (it was created), none
    is on; the summary sensor (stored across the restart) knows the one alert that went on in the
    morning. The message lists that one, not the eleven sensors."""
    freezer.move_to(datetime(2026, 6, 1, 15, 0, tzinfo=TZ))  # the restart
    alert_sensors = [f"binary_sensor.pv_alert_{n}" for n in range(11)]
    for entity_id in alert_sensors:
        hass.states.async_set(entity_id, "off", {"device_class": "problem", "friendly_name": entity_id})
    hass.states.async_set(
        "sensor.home_pv_production_today",
        "9.0",
        {
            "device_class": "energy",
            "expected_energy_today": 0,
            "alerts_today": [
                {
                    "alert": "grid_voltage",
                    "device": "grid_meter",
                    "name": "Grid meter",
                    "time": "2026-06-01T09:12:00+02:00",
                    "message": "Grid meter: Voltage L1 = 255.3 V is above 253 V",
                }
            ],
        },
    )
    with repo_blueprints():
        assert await async_setup_component(
            hass,
            "automation",
            {
                "automation": {
                    "id": "pv_summary",
                    "alias": "PV summary",
                    "use_blueprint": {
                        "path": SUMMARY,
                        "input": {
                            "summary_sensor": "sensor.home_pv_production_today",
                            "alert_sensors": alert_sensors,
                            "chat_id": "42",
                        },
                    },
                }
            },
        )
        await hass.async_block_till_done()
    freezer.move_to(get_astral_event_next(hass, "sunset") + timedelta(seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert [c.data["message"] for c in telegram] == [
        "☀️ PV today: 9.00 kWh. Alerts today: Grid meter: Voltage L1 = 255.3 V is above 253 V."
    ]
