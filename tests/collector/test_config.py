"""Configuration: defaults, and one specific message per problem for bad files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pv_collector.config import load_config, validate_config
from pv_collector.errors import ConfigError

GOOD = """\
collector: {id: home, name: Home PV}
mqtt: {host: 127.0.0.1, port: 1883, password: s3cret-value}
buses:
  - name: rs485
    type: serial
    serial_port: /dev/ttyUSB0
    devices:
      - {id: meter, name: Grid meter, unit_id: 1, profile: sdm630, poll_interval: 5}
  - name: lan
    type: tcp
    host: 192.168.1.50
    devices:
      - {id: inverter, name: Inverter, unit_id: 1, profile: sunspec}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "collector.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return caught.value.messages


def test_good_configuration_and_its_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.collector.id == "home"
    assert config.client_id == "pv_monitor_home"
    assert config.data_dir == (tmp_path / "data").resolve()  # relative to the file
    assert config.mqtt.base_topic == "pv_monitor"
    assert (config.mqtt.qos.state, config.mqtt.qos.status, config.mqtt.qos.discovery) == (0, 1, 1)
    assert config.mqtt.password == "s3cret-value"
    assert "s3cret" not in repr(config)
    serial, tcp = config.buses
    assert (serial.type, serial.serial_port, serial.baudrate, serial.parity, serial.stopbits) == (
        "serial",
        "/dev/ttyUSB0",
        9600,
        "N",
        1,
    )
    assert (tcp.host, tcp.port, tcp.timeout, tcp.retries) == ("192.168.1.50", 502, 1.0, 2)
    assert tcp.devices[0].poll_interval == 5.0
    assert tcp.devices[0].offline_after == 3
    assert [device.id for _bus, device in config.devices] == ["meter", "inverter"]
    assert config.queue.max_messages == 100_000
    assert config.publish.on_change is False


def test_validate_config_accepts_a_dict_and_names_every_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(
            {
                "collector": {"id": "Home"},
                "mqtt": {"port": 0, "password": "hunter2"},
                "buses": [
                    {
                        "name": "lan",
                        "type": "tcp",
                        "host": "x",
                        "devices": [{"id": "a", "unit_id": 300, "profile": "sdm630"}],
                    }
                ],
            }
        )
    lines = caught.value.messages
    assert "collector.id: 'Home' is not a valid value" in lines[0]
    assert any(line.startswith("mqtt.port: 0 is not a valid value (expected 1..65535)") for line in lines)
    assert any(line.startswith("buses[0].devices[0].unit_id: 300 is not a valid value") for line in lines)
    assert len(lines) == 3
    assert "hunter2" not in str(caught.value)


BAD_FILES = [
    pytest.param(
        GOOD.replace("unit_id: 1, profile: sdm630", "unit_id: 300, profile: sdm630"),
        "buses[0].devices[0].unit_id: 300 is not a valid value (expected 1..247)",
        id="unit-id-range",
    ),
    pytest.param(
        GOOD.replace("profile: sdm630", "profile: no_such_device"),
        "buses[0].devices[0].profile: unknown profile 'no_such_device' (known profiles: ",
        id="unknown-profile",
    ),
    pytest.param(
        GOOD.replace("id: inverter", "id: meter"),
        "buses[1].devices[0].id: 'meter' is used by another device (buses[0].devices[0])",
        id="duplicate-device-id",
    ),
    pytest.param(
        GOOD.replace("mqtt: {host: 127.0.0.1,", "mqtt: {hots: 127.0.0.1,"),
        "mqtt.hots: unknown option (did you mean 'host'?)",
        id="unknown-key",
    ),
    pytest.param(
        GOOD.replace("    serial_port: /dev/ttyUSB0\n", ""),
        "buses[0].serial_port: required option is missing",
        id="serial-without-port",
    ),
    pytest.param(
        GOOD.replace("type: tcp", "type: udp"),
        "buses[1].type: 'udp' is not a valid value (expected one of serial | tcp | rtu_over_tcp | solarman)",
        id="bus-type",
    ),
    pytest.param(
        GOOD.replace("poll_interval: 5", "poll_interval: 0.01"),
        "buses[0].devices[0].poll_interval: 0.01 is not a valid value (expected 0.1..86400)",
        id="poll-interval",
    ),
    pytest.param(
        GOOD.replace("serial_port: /dev/ttyUSB0", "serial_port: /dev/ttyUSB0\n    parity: X"),
        "buses[0].parity: 'X' is not a valid value (expected one of N | E | O)",
        id="parity",
    ),
    pytest.param(
        GOOD
        + "  - name: lan\n    type: tcp\n    host: h\n    devices: [{id: x, unit_id: 2, profile: sdm630}]\n",
        "buses[2].name: 'lan' is used by another bus (buses[1])",
        id="duplicate-bus",
    ),
    pytest.param(
        GOOD.replace("collector: {id: home, name: Home PV}", "collector: {name: Home PV}"),
        "collector.id: required option is missing",
        id="missing-id",
    ),
    pytest.param(
        GOOD + "mqtt_qos: 1\n",
        "mqtt_qos: unknown option",
        id="unknown-top-level",
    ),
    pytest.param(
        GOOD.replace("port: 1883,", "port: 1883, qos: {state: 3},"),
        "mqtt.qos.state: 3 is not a valid value (expected one of 0 | 1 | 2)",
        id="qos",
    ),
    pytest.param(
        GOOD.replace("port: 1883,", "port: 1883, ca_file: missing-ca.pem,"),
        "missing-ca.pem' is not a readable file",
        id="ca-file",
    ),
    pytest.param(
        GOOD.replace("{id: inverter, name: Inverter, unit_id: 1, profile: sunspec}", "{id: inverter}"),
        "buses[1].devices[0].unit_id: required option is missing",
        id="device-missing-fields",
    ),
    pytest.param(
        GOOD.replace("poll_interval: 5}", "poll_interval: 5, deadband: {nope: 1}}"),
        "buses[0].devices[0].deadband.nope: unknown point of profile 'sdm630'",
        id="deadband-key",
    ),
    pytest.param("buses: [\n", "YAML syntax error", id="yaml-syntax"),
    pytest.param("- just\n- a list\n", "expected a map of options at the top level", id="not-a-map"),
    pytest.param(
        GOOD + "collector: {id: again}\n",
        "collector.yaml:14:1: YAML syntax error: key 'collector' is given twice",
        id="duplicate-key",
    ),
    pytest.param(
        GOOD.replace("buses:\n", "buses: []\nunused:\n"),
        "buses: at least one bus is required",
        id="no-bus",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES)
def test_bad_configuration_files_produce_their_specific_message(
    tmp_path: Path, text: str, expected: str
) -> None:
    lines = errors_of(tmp_path, text)
    assert any(expected in line for line in lines), lines
    assert all("s3cret" not in line for line in lines)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, "collector:\n  id: home\n buses: x\n")
    assert len(lines) == 1
    assert lines[0].startswith(f"{tmp_path / 'collector.yaml'}:3:")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert "cannot read the configuration" in caught.value.messages[0]


def test_site_gateway_and_sleeping_options(tmp_path: Path) -> None:
    text = GOOD.replace(
        "collector: {id: home, name: Home PV}",
        "collector: {id: home}\nsite: {latitude: 48.1, longitude: 11.6}",
    )
    text = text.replace(
        "    serial_port: /dev/ttyUSB0\n",
        "    serial_port: /dev/ttyUSB0\n    quarantine_retry: 120\n"
        "    gateway: {port: 1502, units: {10: meter}}\n",
    )
    text = text.replace(
        "{id: inverter, name: Inverter, unit_id: 1, profile: sunspec}",
        "{id: inverter, unit_id: 1, profile: sunspec, sleeps_at_night: false, power_limit_revert: 900}",
    )
    config = load_config(write(tmp_path, text))
    assert config.site is not None
    assert (config.site.latitude, config.site.longitude) == (48.1, 11.6)
    serial, tcp = config.buses
    assert serial.quarantine_retry == 120
    assert serial.gateway is not None
    assert (serial.gateway.host, serial.gateway.port, serial.gateway.max_age) == ("127.0.0.1", 1502, 10.0)
    assert (serial.gateway.allow_writes, dict(serial.gateway.units)) == (False, {10: "meter"})
    assert tcp.gateway is None
    inverter = tcp.devices[0]
    assert (inverter.sleeps_at_night, inverter.asleep_poll_interval, inverter.power_limit_revert) == (
        False,
        300,
        900,
    )
    defaults = load_config(write(tmp_path, GOOD))
    assert defaults.site is None
    assert defaults.buses[0].devices[0].sleeps_at_night is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("buses:", "site: {latitude: 95, longitude: 0}\nbuses:"),
            "site.latitude: 95 is not a valid value (expected -90..90)",
        ),
        (("buses:", "site: {latitude: 45}\nbuses:"), "site.longitude: required option is missing"),
        (
            (
                "    serial_port: /dev/ttyUSB0\n",
                "    serial_port: /dev/ttyUSB0\n    gateway: {units: {5: inverter}}\n",
            ),
            "buses[0].gateway.units[5]: 'inverter' is not a device of this bus (meter)",
        ),
        (
            ("    serial_port: /dev/ttyUSB0\n", "    serial_port: /dev/ttyUSB0\n    gateway: {prot: 1502}\n"),
            "buses[0].gateway.prot: unknown option (did you mean 'port'?)",
        ),
        (
            (
                "    host: 192.168.1.50\n",
                "    host: 192.168.1.50\n    gateway: {port: 5020}\n    quarantine_retry: 0\n",
            ),
            "buses[1].quarantine_retry: 0 is not a valid value (expected 0.1..604800)",
        ),
        (
            ("profile: sunspec}", "profile: sunspec, power_limit_revert: 0}"),
            "buses[1].devices[0].power_limit_revert: 0 is not a valid value (expected 1..65534 (seconds)",
        ),
        (
            ("profile: sunspec}", "profile: sunspec, offline_after: 0}"),
            "buses[1].devices[0].offline_after: 0 is not a valid value (expected 1..1000)",
        ),
    ],
)
def test_bad_new_options_name_the_problem(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    errors = errors_of(tmp_path, GOOD.replace(*change))
    assert len(errors) == 1
    assert errors[0].startswith(message)


def test_two_gateways_on_one_port_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    serial_port: /dev/ttyUSB0\n", "    serial_port: /dev/ttyUSB0\n    gateway: {port: 5020}\n"
    )
    text = text.replace("    host: 192.168.1.50\n", "    host: 192.168.1.50\n    gateway: {port: 5020}\n")
    assert errors_of(tmp_path, text) == ["buses[1].gateway.port: 5020 is used by another gateway (bus rs485)"]


def test_a_serial_port_under_its_0_1_name_is_read_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Version 0.1 named a serial bus's adapter `port`; such a file still starts, and says what to change."""
    path = write(tmp_path, GOOD.replace("    serial_port: /dev/ttyUSB0\n", "    port: /dev/ttyUSB0\n"))

    config = load_config(path)

    assert config.buses[0].serial_port == "/dev/ttyUSB0"
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [
        f"{path}: buses[0].port: a serial bus names its adapter 'serial_port' since version 0.2; "
        "read as serial_port (rename it in the file)"
    ]
