"""Constants of the PV Monitor integration."""

from typing import Final

from homeassistant.const import Platform

DOMAIN: Final = "pv_monitor"

DEFAULT_BASE_TOPIC: Final = "pv_monitor"

CONF_BASE_TOPIC: Final = "base_topic"
CONF_COLLECTOR_ID: Final = "collector_id"

# Options (alert thresholds and command behaviour).
CONF_GRID_VOLTAGE_MIN: Final = "grid_voltage_min"
CONF_GRID_VOLTAGE_MAX: Final = "grid_voltage_max"
CONF_GRID_FREQUENCY_MIN: Final = "grid_frequency_min"
CONF_GRID_FREQUENCY_MAX: Final = "grid_frequency_max"
CONF_BATTERY_LOW_SOC: Final = "battery_low_soc"
CONF_PRODUCTION_BELOW_EXPECTED: Final = "production_below_expected"
CONF_OFFLINE_GRACE: Final = "offline_grace"
CONF_COMMAND_QOS: Final = "command_qos"
# PV health (docs/pv-health.md).
CONF_PRODUCTION_ALERT_DELAY: Final = "production_alert_delay"
CONF_PRODUCTION_MIN_ELEVATION: Final = "production_min_elevation"
CONF_STRING_IMBALANCE: Final = "string_imbalance"
CONF_STRING_MIN_POWER: Final = "string_min_power"
CONF_FAULT_HOLD_OFF: Final = "fault_hold_off"
# Arrays per inverter: {device id: {peak_power (kWp), tilt, azimuth, losses (%)}}.
CONF_ARRAYS: Final = "arrays"
CONF_DEVICE: Final = "device"
CONF_PEAK_POWER: Final = "peak_power"
CONF_TILT: Final = "tilt"
CONF_AZIMUTH: Final = "azimuth"
CONF_LOSSES: Final = "losses"
# The array of every inverter that has none of its own: only what the migration of the retired option
# `array_peak_power` (CONF_ARRAY_PEAK_POWER, kWp; W before 1.2) leaves until the collector announces
# its inverters (then each inverter without an array gets a copy and this key goes). No device id: ids
# start with a letter or digit.
ARRAY_OF_EVERY_INVERTER: Final = "*"
CONF_ARRAY_PEAK_POWER: Final = "array_peak_power"
# Options of the alert automations step (kept so the form shows the last choice).
CONF_NOTIFY_ENTITIES: Final = "notify_entities"
CONF_CHAT_ID: Final = "chat_id"
CONF_ALERTS: Final = "alerts"
CONF_DAILY_SUMMARY: Final = "daily_summary"
# Set-up's Energy dashboard choice; pending until the collector's entities exist, then done once.
CONF_ENERGY_DASHBOARD: Final = "energy_dashboard"
CONF_ENERGY_PENDING: Final = "energy_dashboard_pending"

DEFAULT_OPTIONS: Final[dict[str, float | int]] = {
    CONF_GRID_VOLTAGE_MIN: 207.0,
    CONF_GRID_VOLTAGE_MAX: 253.0,
    CONF_GRID_FREQUENCY_MIN: 49.8,
    CONF_GRID_FREQUENCY_MAX: 50.2,
    CONF_BATTERY_LOW_SOC: 10.0,
    CONF_PRODUCTION_BELOW_EXPECTED: 50.0,
    CONF_OFFLINE_GRACE: 60,
    CONF_COMMAND_QOS: 1,
    CONF_PRODUCTION_ALERT_DELAY: 900,
    CONF_PRODUCTION_MIN_ELEVATION: 15.0,
    CONF_STRING_IMBALANCE: 20.0,
    CONF_STRING_MIN_POWER: 100.0,
    CONF_FAULT_HOLD_OFF: 300,
}

# Seconds between evaluations of the health figures (expected power and energy, time-based alerts).
HEALTH_INTERVAL: Final = 60.0

# Seconds an actuator waits for the collector's command_result event.
COMMAND_TIMEOUT: Final = 10.0
# The point that tells an inverter's rated AC power in W (SunSpec model 120 WRtg, vendor maps).
RATED_POWER_KEY: Final = "rated_power"
# Seconds the user/reconfigure steps listen for retained announcements.
SCAN_SECONDS: Final = 2.0

EVENT_ALERT: Final = "pv_monitor_alert"

PLATFORMS: Final = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]

# Repair issue ids (suffixed with the collector id where one collector is concerned).
ISSUE_MQTT_NOT_SETUP: Final = "mqtt_not_setup"
ISSUE_UNSUPPORTED_CONTRACT: Final = "unsupported_contract"
ISSUE_HA_DISCOVERY: Final = "ha_discovery_duplicates"
ISSUE_DUPLICATE_COLLECTOR: Final = "duplicate_collector"


def signal_new_entities(entry_id: str, platform: Platform) -> str:
    """Dispatcher signal telling one platform of an entry that the announcement changed."""
    return f"{DOMAIN}_{entry_id}_new_{platform}"


def signal_device_updated(entry_id: str, device_id: str | None) -> str:
    """Dispatcher signal telling the entities of one device (None: of the collector) that something
    changed. Its argument `changed: frozenset[str] | None` is the point keys whose values changed
    (empty: only derived figures such as alerts and health), or None when anything may have."""
    return f"{DOMAIN}_{entry_id}_updated" + ("" if device_id is None else f"_{device_id}")
