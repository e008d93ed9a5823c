"""The add-on's start step (`python -m pv_collector.addon`) against a fake Supervisor API.

Each test writes an options.json like the Supervisor does, runs the start step as the s6 run script
does (a real process, SUPERVISOR_TOKEN in its environment) and checks the collector configuration it
produces (`--print-config`) or the one log line and exit code it ends with.
"""

from __future__ import annotations

import asyncio
import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import pv_collector
from pv_collector.addon.identify_at_start import EARLIER_START
from pv_collector.addon.options import REDACTED, migrate
from pv_collector.addon.start import prepare
from pv_collector.errors import ExitCode
from tests.addon.conftest import SUPERVISOR_TOKEN, AddonHome, FakeSupervisor, StartResult
from tests.mosquitto import free_port

OPTION_PASSWORD = "Zae3ahTh-option-password"
SHIPPED = Path(pv_collector.__file__).parent / "profiles"


def sample_options(serial_device: str) -> dict[str, Any]:
    """Options as the Supervisor writes them after validating them against config.yaml's schema."""
    return {
        "collector": {"id": "garage", "name": "Garage PV"},
        "log_level": "debug",
        "publish": {"on_change": True},
        "mqtt": {"qos": {"state": 1, "status": 1, "discovery": 2, "commands": 1}},
        "metrics": {"enabled": True, "port": 9464},
        "buses": [
            {
                "name": "rs485",
                "type": "serial",
                "serial_port": serial_device,
                "baudrate": 19200,
                "parity": "E",
                "stopbits": 1,
                "timeout": 0.5,
                "devices": [
                    {
                        "id": "grid_meter",
                        "name": "Grid meter",
                        "unit_id": 1,
                        "profile": "sdm630",
                        "poll_interval": 2.0,
                    },
                    {"id": "heat_pump", "unit_id": 2, "profile": "sdm120"},
                ],
            },
            {
                "name": "inverter_lan",
                "type": "tcp",
                "host": "192.168.1.50",
                "port": 1502,
                "retries": 3,
                "devices": [{"id": "inverter", "name": "Inverter", "unit_id": 1, "profile": "sunspec"}],
            },
        ],
    }


def expected_config(home: AddonHome, serial_device: str) -> dict[str, Any]:
    """The collector configuration (docs/configuration.md) those options stand for, password redacted: the
    options as they are, plus what the add-on owns (folders, broker, listening addresses, the page)."""
    config = sample_options(serial_device)
    config["data_dir"] = str(home.data)
    config["profile_dirs"] = [str(home.config / "profiles")]
    config["metrics"]["host"] = "0.0.0.0"
    config["mqtt"].update(host="core-mosquitto", port=1883, username="addons", password=REDACTED, tls=False)
    config["web"] = {"enabled": True, "host": "0.0.0.0", "port": 8099, "trusted_proxy": "172.30.32.2"}
    return config


def assert_no_secrets(result: StartResult, *secrets: str) -> None:
    for secret in (SUPERVISOR_TOKEN, *secrets):
        assert secret not in result.stdout
        assert secret not in result.stderr


def assert_one_error(result: StartResult, code: int, *fragments: str) -> str:
    """The run ended with `code`, one ERROR line holding every fragment, no traceback, nothing on stdout."""
    assert result.code == code, result.stderr
    assert len(result.errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    line = result.errors[0]
    for fragment in fragments:
        assert fragment in line, line
    return line


# --------------------------------------------------------------------------------------------------
# Broker from the Supervisor's mqtt service, or from the options


async def test_service_broker_and_options_make_the_collector_configuration(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    addon_home.write_options(sample_options(serial_port))

    result = await addon_home.start(supervisor.url, "--print-config")

    assert result.config() == expected_config(addon_home, serial_port)
    assert supervisor.requests == [
        ("/addons/self/info", f"Bearer {SUPERVISOR_TOKEN}"),  # the page's ingress port, stored options
        ("/services/mqtt", f"Bearer {SUPERVISOR_TOKEN}"),
    ]
    assert supervisor.saved == []  # nothing to rename
    example = addon_home.config / "profiles" / "generic_example.yaml.example"  # a folder for own profiles
    assert example.read_text() == (SHIPPED / "generic_example.yaml").read_text()
    assert (
        "core-mosquitto:1883 (from the Supervisor's mqtt service, with a username, no TLS)" in result.stderr
    )
    assert_no_secrets(result, "Ohgh5zie-service-password")


async def test_service_password_reaches_the_collector(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    """The printed configuration redacts the password; the one handed to the collector carries it."""
    addon_home.write_options(sample_options(serial_port))
    paths = addon_home.paths()

    # `prepare` does blocking HTTP; the fake Supervisor runs on this event loop.
    config, validated = await asyncio.to_thread(
        prepare, paths, supervisor_url=supervisor.url, token=SUPERVISOR_TOKEN
    )

    assert config["mqtt"]["password"] == "Ohgh5zie-service-password"
    assert validated.mqtt.password == "Ohgh5zie-service-password"
    assert validated.mqtt.host == "core-mosquitto"
    assert [device.id for _bus, device in validated.devices] == ["grid_meter", "heat_pump", "inverter"]
    assert validated.buses[0].serial_port == serial_port
    assert validated.buses[0].parity == "E"


async def test_explicit_broker_overrides_the_service(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    (addon_home.ssl / "broker-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    options = sample_options(serial_port)
    options["mqtt"].update(
        host="broker.example.net", username="pv", password=OPTION_PASSWORD, ca_file="broker-ca.pem"
    )
    addon_home.write_options(options)

    result = await addon_home.start(supervisor.url, "--print-config")

    assert result.config()["mqtt"] == {
        "host": "broker.example.net",
        "port": 8883,  # TLS (implied by the CA file) moves the default port
        "username": "pv",
        "password": REDACTED,
        "tls": True,
        "ca_file": str(addon_home.ssl / "broker-ca.pem"),
        "qos": {"state": 1, "status": 1, "discovery": 2, "commands": 1},
    }
    assert [path for path, _token in supervisor.requests] == ["/addons/self/info"]  # not the mqtt service
    assert "broker.example.net:8883 (from the options, with a username, TLS)" in result.stderr
    assert_no_secrets(result, OPTION_PASSWORD)


async def test_explicit_broker_needs_no_supervisor(addon_home: AddonHome, serial_port: str) -> None:
    options = sample_options(serial_port)
    options["mqtt"].update(host="10.0.0.2", port=1884, tls=False)
    addon_home.write_options(options)

    result = await addon_home.start(f"http://127.0.0.1:{free_port()}", "--print-config", token=None)

    mqtt = result.config()["mqtt"]
    assert (mqtt["host"], mqtt["port"], mqtt["tls"]) == ("10.0.0.2", 1884, False)
    assert "username" not in mqtt
    assert "password" not in mqtt
    assert "web" not in result.config()  # no Supervisor, no ingress: the page stays off


async def test_without_an_ingress_port_the_page_is_off_and_the_collector_runs(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    supervisor.ingress_port = None  # the Supervisor's info request fails
    addon_home.write_options(sample_options(serial_port))

    result = await addon_home.start(supervisor.url, "--print-config")

    assert result.code == 0
    assert "web" not in result.config()
    warnings = [line for line in result.log_lines if "level=warning" in line]
    assert len(warnings) == 1
    assert "page is off" in warnings[0]
    assert "HTTP 500: System is not ready" in warnings[0]


async def test_fields_set_without_a_host_replace_the_service_values(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    options = sample_options(serial_port)
    options["mqtt"].update(
        username="pv_collector", password=OPTION_PASSWORD, host=""
    )  # "" = cleared in the UI
    addon_home.write_options(options)

    result = await addon_home.start(supervisor.url, "--print-config")

    mqtt = result.config()["mqtt"]
    assert (mqtt["host"], mqtt["port"], mqtt["username"]) == ("core-mosquitto", 1883, "pv_collector")
    assert [path for path, _token in supervisor.requests].count("/services/mqtt") == 1
    assert_no_secrets(result, OPTION_PASSWORD, "Ohgh5zie-service-password")


async def test_service_with_ssl_turns_tls_on(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    assert supervisor.mqtt is not None
    supervisor.mqtt.update(ssl=True, port=8883)
    del supervisor.mqtt["username"], supervisor.mqtt["password"]
    options = sample_options(serial_port)
    options["metrics"] = {"enabled": False}
    addon_home.write_options(options)

    config = (await addon_home.start(supervisor.url, "--print-config")).config()

    assert config["mqtt"] == {
        "host": "core-mosquitto",
        "port": 8883,
        "tls": True,
        "qos": {"state": 1, "status": 1, "discovery": 2, "commands": 1},
    }
    assert config["metrics"] == {"enabled": False, "host": "0.0.0.0"}


async def test_own_profile_in_the_addon_config_folder(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    """A profile the user drops into <add-on config>/profiles is found by its id."""
    shipped = SHIPPED / "generic_example.yaml"
    (addon_home.config / "profiles").mkdir()
    (addon_home.config / "profiles" / "my_meter.yaml").write_text(
        re.sub(r"(?m)^id: generic_example$", "id: my_meter", shipped.read_text(encoding="utf-8")),
        encoding="utf-8",
    )
    options = sample_options(serial_port)
    options["buses"][0]["devices"][1]["profile"] = "my_meter"
    addon_home.write_options(options)

    result = await addon_home.start(supervisor.url, "--print-config")

    assert result.config()["buses"][0]["devices"][1]["profile"] == "my_meter"


# --------------------------------------------------------------------------------------------------
# No broker


async def test_no_mqtt_service_and_no_broker_option(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    supervisor.mqtt = None
    addon_home.write_options(sample_options(serial_port))

    result = await addon_home.start(supervisor.url)

    assert_one_error(
        result,
        ExitCode.NO_BROKER,
        "No MQTT broker",
        "Install and start the Mosquitto broker app",
        "'mqtt'",
    )


async def test_no_token_and_no_broker_option(addon_home: AddonHome, serial_port: str) -> None:
    addon_home.write_options(sample_options(serial_port))

    result = await addon_home.start(f"http://127.0.0.1:{free_port()}", token=None)

    assert_one_error(result, ExitCode.NO_BROKER, "No MQTT broker", "SUPERVISOR_TOKEN is not set")


async def test_supervisor_refuses_the_token(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    addon_home.write_options(sample_options(serial_port))

    result = await addon_home.start(supervisor.url, token="0" * 48)

    assert_one_error(result, ExitCode.NO_BROKER, "refused the mqtt service", "HTTP 401")
    assert "0" * 48 not in result.stderr


async def test_supervisor_not_reachable(addon_home: AddonHome, serial_port: str) -> None:
    addon_home.write_options(sample_options(serial_port))
    url = f"http://127.0.0.1:{free_port()}"

    result = await addon_home.start(url)

    assert_one_error(result, ExitCode.NO_BROKER, f"Supervisor API at {url} is not reachable")


# --------------------------------------------------------------------------------------------------
# Bad options: one line naming the option, exit code 2


def _set(options: dict[str, Any], path: str, value: Any) -> None:
    """Set `buses[0].devices[1].unit_id`-style paths; value None deletes the key."""
    parts = [int(part) if part.isdigit() else part for part in re.findall(r"[^.\[\]]+", path)]
    target: Any = options
    for part in parts[:-1]:
        target = target[part]
    if value is None:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value


BAD_OPTIONS = [
    pytest.param("buses", [], "buses: at least one bus is required", id="no-bus"),
    pytest.param(
        "buses[0].serial_port", None, "buses[0].serial_port: required option is missing", id="serial-no-port"
    ),
    pytest.param("buses[1].host", None, "buses[1].host: required option is missing", id="tcp-no-host"),
    pytest.param("buses[1].type", "udp", "buses[1].type: 'udp' is not a valid value", id="bus-type"),
    pytest.param(
        "collector.id", "Garage PV", "collector.id: 'Garage PV' is not a valid value", id="collector-id"
    ),
    pytest.param(
        "buses[0].devices[1].unit_id",
        0,
        "buses[0].devices[1].unit_id: 0 is not a valid value (expected 1..247)",
        id="rtu-unit-id",
    ),
    pytest.param("mqtt.qos.state", 3, "mqtt.qos.state: 3 is not a valid value", id="qos"),
    pytest.param(
        "buses[1].devices[0].id",
        "grid_meter",
        "buses[1].devices[0].id: 'grid_meter' is used by another device",
        id="duplicate-id",
    ),
    pytest.param(
        "buses[1].devices[0].profile",
        "no_such_profile",
        "buses[1].devices[0].profile: unknown profile 'no_such_profile'",
        id="unknown-profile",
    ),
    pytest.param("buses[0].devices", [], "buses[0].devices: at least one device is required", id="no-device"),
    pytest.param(
        "buses[1].name", "Inverter LAN", "buses[1].name: 'Inverter LAN' is not a valid value", id="bus-name"
    ),
    pytest.param(
        "buses[1].devices[0].offline_after",
        0,
        "buses[1].devices[0].offline_after: 0 is not a valid value (expected 1..1000)",
        id="offline-after",
    ),
    pytest.param("site", {"latitude": 48.14}, "site.longitude: required option is missing", id="half-site"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_OPTIONS)
async def test_bad_option_is_named(
    addon_home: AddonHome, serial_port: str, path: str, value: Any, message: str
) -> None:
    options = copy.deepcopy(sample_options(serial_port))
    options["mqtt"].update(host="10.0.0.2", password=OPTION_PASSWORD)
    _set(options, path, value)
    addon_home.write_options(options)

    result = await addon_home.start(f"http://127.0.0.1:{free_port()}")

    line = assert_one_error(result, ExitCode.INVALID_CONFIG, "Invalid options: ", message)
    assert line.count(";") == 0, "one problem, one message"
    assert_no_secrets(result, OPTION_PASSWORD)


async def test_every_bad_option_in_one_line(addon_home: AddonHome, serial_port: str) -> None:
    options = sample_options(serial_port)
    options["mqtt"]["host"] = "10.0.0.2"
    options["collector"]["id"] = "-bad"
    options["buses"][0]["devices"][0]["unit_id"] = 248

    result = await _start_with(addon_home, options)

    line = assert_one_error(
        result, ExitCode.INVALID_CONFIG, "collector.id: '-bad'", "buses[0].devices[0].unit_id: 248"
    )
    assert line.count(";") == 1


async def _start_with(home: AddonHome, options: dict[str, Any]) -> StartResult:
    home.write_options(options)
    return await home.start(f"http://127.0.0.1:{free_port()}")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("{not json", "is not valid JSON", id="syntax"),
        pytest.param("[1, 2]", "must hold a JSON object, found list", id="not-an-object"),
        pytest.param(None, "options.json does not exist", id="missing"),
    ],
)
async def test_unreadable_options_file(addon_home: AddonHome, content: str | None, message: str) -> None:
    if content is not None:
        addon_home.write_options(content)

    result = await addon_home.start(f"http://127.0.0.1:{free_port()}")

    assert_one_error(result, ExitCode.INVALID_CONFIG, message)


# --------------------------------------------------------------------------------------------------
# Serial port


async def test_missing_serial_port(addon_home: AddonHome, supervisor: FakeSupervisor, tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyUSB7")
    addon_home.write_options(sample_options(missing))

    result = await addon_home.start(supervisor.url)

    assert_one_error(
        result,
        ExitCode.SERIAL_PORT,
        f"Serial port {missing} of bus 'rs485' (buses[0].serial_port) does not exist",
        "serial ports present:",
    )


async def test_site_gateway_and_device_options_reach_the_collector(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    """Location, a bus's gateway and per-device sleep, power-limit revert and offline_after are the
    collector's own keys; the add-on only adds the gateway's listening address."""
    options = sample_options(serial_port)
    options["site"] = {"latitude": 48.14, "longitude": 11.58}
    lan = options["buses"][1]
    lan["gateway"] = {"port": 5020, "allow_writes": True}
    lan["devices"][0].update(sleeps_at_night=True, power_limit_revert=900, offline_after=6)
    addon_home.write_options(options)

    paths = addon_home.paths()
    config, validated = await asyncio.to_thread(
        prepare, paths, supervisor_url=supervisor.url, token=SUPERVISOR_TOKEN
    )

    assert config["site"] == {"latitude": 48.14, "longitude": 11.58}
    assert config["buses"][1]["gateway"] == {"host": "0.0.0.0", "port": 5020, "allow_writes": True}
    assert "gateway" not in config["buses"][0]
    lan_bus = validated.buses[1]
    assert lan_bus.gateway is not None
    assert (lan_bus.gateway.host, lan_bus.gateway.port, lan_bus.gateway.allow_writes) == (
        "0.0.0.0",
        5020,
        True,
    )
    inverter = lan_bus.devices[0]
    assert (inverter.sleeps_at_night, inverter.power_limit_revert, inverter.offline_after) == (True, 900, 6)
    assert validated.buses[0].devices[0].offline_after == 3  # the collector's default
    assert validated.site is not None
    assert (validated.site.latitude, validated.site.longitude) == (48.14, 11.58)


async def test_groups_left_empty_in_the_form_are_not_set(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    """The Supervisor's form saves a cleared field as "" and may save an unfilled group as {}: not set."""
    options = sample_options(serial_port)
    options["site"] = {}
    options["buses"][1]["gateway"] = {"port": ""}
    options["buses"][1]["devices"][0]["name"] = ""
    addon_home.write_options(options)

    config = (await addon_home.start(supervisor.url, "--print-config")).config()

    assert "site" not in config
    assert "gateway" not in config["buses"][1]
    assert config["buses"][1]["devices"][0] == {"id": "inverter", "unit_id": 1, "profile": "sunspec"}


# --------------------------------------------------------------------------------------------------
# Options of version 0.1


def options_of_0_1(serial_device: str) -> dict[str, Any]:
    """What a user saved in version 0.1 (old names), as the Supervisor stores it."""
    return {
        "collector_id": "garage",
        "collector_name": "Garage PV",
        "log_level": "debug",
        "publish_on_change": True,
        "qos": {"state": 1, "status": 1, "discovery": 2, "commands": 1},
        "mqtt": {},
        "metrics_port": 9464,
        "latitude": 48.14,
        "longitude": 11.58,
        "buses": [
            {
                "name": "rs485",
                "type": "serial",
                "device": serial_device,
                "baudrate": 19200,
                "devices": [{"id": "grid_meter", "unit_id": 1, "profile": "sdm630"}],
            },
            {
                "name": "inverter_lan",
                "type": "tcp",
                "host": "192.168.1.50",
                "gateway_port": 5020,
                "gateway_allow_writes": True,
                "devices": [{"id": "inverter", "unit_id": 1, "profile": "sunspec"}],
            },
        ],
    }


# addon/config.yaml's `options` of 0.2: the defaults the Supervisor merges under the stored options
NEW_DEFAULTS: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[2] / "addon" / "config.yaml").read_text(encoding="utf-8")
)["options"]


def after_update(addon_home: AddonHome, serial_device: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the Supervisor stores, what it writes to options.json) right after the update to 0.2, with the
    data folder of a collector that has run before (its queue is there, so `identify` is not due).

    It keeps the user's saved options and merges config.yaml's new defaults under them (dicts merged, other
    values replaced); before every start it validates that against the new schema, dropping every name the
    schema does not have (supervisor/apps/app.py `options`, `write_options`; apps/options.py `AppOptions`).
    """
    addon_home.data.mkdir(parents=True, exist_ok=True)
    (addon_home.data / EARLIER_START).touch()
    old = options_of_0_1(serial_device)
    stored = {**copy.deepcopy(NEW_DEFAULTS), **old, "mqtt": {**NEW_DEFAULTS["mqtt"], **old["mqtt"]}}
    written = copy.deepcopy(NEW_DEFAULTS)
    written["buses"] = [
        {
            key: value
            for key, value in bus.items()
            if key not in ("device", "gateway_port", "gateway_allow_writes")
        }
        for bus in old["buses"]
    ]
    return stored, written


async def test_options_of_version_0_1_are_renamed_stored_and_used(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    stored, written = after_update(addon_home, serial_port)
    supervisor.options = stored
    addon_home.write_options(written)

    result = await addon_home.start(supervisor.url, "--print-config")

    config = result.config()
    assert config["collector"] == {"id": "garage", "name": "Garage PV"}  # not the new default "home"
    assert config["publish"] == {"on_change": True}
    assert config["mqtt"]["qos"] == {"state": 1, "status": 1, "discovery": 2, "commands": 1}
    assert config["metrics"] == {"enabled": True, "port": 9464, "host": "0.0.0.0"}
    assert config["site"] == {"latitude": 48.14, "longitude": 11.58}
    assert config["buses"][0]["serial_port"] == serial_port
    assert config["buses"][1]["gateway"] == {
        "enabled": True,
        "port": 5020,
        "allow_writes": True,
        "host": "0.0.0.0",
    }
    assert len(supervisor.saved) == 1  # stored once, under the new names
    saved = supervisor.saved[0]["options"]
    assert saved["collector"] == {"id": "garage", "name": "Garage PV"}
    assert "collector_id" not in saved
    assert saved["buses"][0]["serial_port"] == serial_port
    renamed = [line for line in result.log_lines if "renamed" in line]
    assert len(renamed) == 1
    assert "collector_id -> collector.id" in renamed[0]
    assert "buses[0].device -> buses[0].serial_port" in renamed[0]


async def test_renamed_options_the_supervisor_refuses_are_used_anyway(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    stored, written = after_update(addon_home, serial_port)
    supervisor.options = stored
    supervisor.refuse_options = True
    addon_home.write_options(written)

    result = await addon_home.start(supervisor.url, "--print-config")

    assert result.config()["collector"]["id"] == "garage"
    warnings = [line for line in result.log_lines if "level=warning" in line]
    assert len(warnings) == 1
    assert "could not be stored (HTTP 400: App pv_monitor has invalid options" in warnings[0]


async def test_renamed_options_are_stored_only_once(
    addon_home: AddonHome, supervisor: FakeSupervisor, serial_port: str
) -> None:
    stored, written = after_update(addon_home, serial_port)
    supervisor.options = stored
    addon_home.write_options(written)
    await addon_home.start(supervisor.url, "--print-config")
    supervisor.options = supervisor.saved[0]["options"]  # what the Supervisor holds now
    addon_home.write_options(supervisor.options)

    result = await addon_home.start(supervisor.url, "--print-config")

    assert len(supervisor.saved) == 1
    assert result.config()["collector"]["id"] == "garage"
    assert not [line for line in result.log_lines if "renamed" in line]


def test_a_gateway_of_0_1_without_a_port_stays_off() -> None:
    options, renamed = migrate({"buses": [{"name": "a", "type": "tcp", "gateway_allow_writes": True}]})

    assert options["buses"][0]["gateway"] == {"allow_writes": True, "enabled": False}
    assert renamed == ["buses[0].gateway_allow_writes -> buses[0].gateway.allow_writes"]
    assert migrate(options) == (options, [])  # nothing left to rename
