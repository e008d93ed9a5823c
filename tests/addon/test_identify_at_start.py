"""The add-on's `identify` option: at the first start it looks for the devices on every bus of the options
(register images of real and documented devices served over Modbus TCP here), logs the `buses` option
for what it found and keeps it in the data folder; later starts leave it out unless `every_start`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pv_collector.addon.identify_at_start import identify_due
from pv_collector.errors import ExitCode
from pv_collector.simulator.modbus_server import UnitServer
from pv_collector.simulator.replay import ImageArgument, replayed_units
from tests.addon.conftest import AddonHome, FakeSupervisor
from tests.collector.device_images import FIXTURES

DEVICES = {1: "sdm630/eastron_register_table.json", 126: "sunspec/fronius_symo_8_2_3_m.json"}


@contextlib.asynccontextmanager
async def devices_on_tcp() -> AsyncIterator[tuple[UnitServer, int]]:
    server = UnitServer(
        replayed_units([ImageArgument(FIXTURES / image, unit) for unit, image in DEVICES.items()])
    )
    port = await server.start("127.0.0.1", 0)
    try:
        yield server, port
    finally:
        await server.stop()


def options(port: int, mode: str | None, devices: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "collector": {"id": "home", "name": "Home PV"},
        "log_level": "info",
        "publish": {"on_change": False},
        "mqtt": {"qos": {"state": 0, "status": 1, "discovery": 1, "commands": 1}},
        "buses": [
            {"name": "lan", "type": "tcp", "host": "127.0.0.1", "port": port, "devices": devices or []}
        ],
    }
    if mode is not None:
        result["identify"] = mode
    return result


def proposed(text: str) -> dict[int, str]:
    buses = yaml.safe_load(text)["buses"]
    return {device["unit_id"]: device["profile"] for bus in buses for device in bus["devices"]}


async def test_the_first_start_logs_the_buses_option_for_what_answers(
    addon_home: AddonHome, supervisor: FakeSupervisor
) -> None:
    async with devices_on_tcp() as (server, port):
        addon_home.write_options(options(port, "first_start"))
        result = await addon_home.start(supervisor.url, "--print-config")
        assert sum(server.writes.values()) == 0
        kept = (addon_home.data / "identify.yaml").read_text(encoding="utf-8")
        assert proposed(kept) == {1: "sdm630", 126: "sunspec"}
        assert kept in result.stderr  # the log shows it whole, ready to paste
        bus = yaml.safe_load(kept)["buses"][0]
        assert (bus["type"], bus["host"], bus["port"]) == ("tcp", "127.0.0.1", port)
        # a bus without devices is still invalid: the collector starts once they are pasted in
        assert result.code == ExitCode.INVALID_CONFIG
        assert "buses[0].devices: at least one device is required" in result.stderr

        addon_home.write_options(options(port, "first_start", bus["devices"]))
        again = await addon_home.start(supervisor.url, "--print-config")
    assert again.code == 0, again.stderr
    assert "identify:" not in again.stderr  # not the first start any more
    assert [d["profile"] for d in again.config()["buses"][0]["devices"]] == ["sdm630", "sunspec"]


async def test_every_start_runs_it_again_and_off_never(
    addon_home: AddonHome, supervisor: FakeSupervisor
) -> None:
    devices = [{"id": "meter", "unit_id": 1, "profile": "sdm630"}]
    async with devices_on_tcp() as (_server, port):
        (addon_home.data / "identify.yaml").write_text("earlier\n", encoding="utf-8")
        addon_home.write_options(options(port, "every_start", devices))
        every = await addon_home.start(supervisor.url, "--print-config")
        addon_home.write_options(options(port, "off", devices))
        off = await addon_home.start(supervisor.url, "--print-config")
    assert every.code == 0, every.stderr
    assert proposed((addon_home.data / "identify.yaml").read_text()) == {1: "sdm630", 126: "sunspec"}
    assert off.code == 0
    assert "identify:" not in off.stderr


@pytest.mark.parametrize(
    ("mode", "earlier", "due"),
    [
        ("first_start", [], True),
        ("first_start", ["identify.yaml"], False),
        ("first_start", ["outbox.sqlite3"], False),  # an installation that ran before the option existed
        ("every_start", ["identify.yaml", "outbox.sqlite3"], True),
        ("off", [], False),
        (None, [], False),  # options written before the option existed
    ],
)
def test_when_identify_is_due(tmp_path: Path, mode: str | None, earlier: list[str], due: bool) -> None:
    for name in earlier:
        (tmp_path / name).write_text("", encoding="utf-8")
    given = {"identify": mode} if mode is not None else {}
    assert identify_due(given, tmp_path) is due


async def test_a_missing_serial_port_is_named_and_the_start_goes_on_to_say_so(
    addon_home: AddonHome, supervisor: FakeSupervisor, tmp_path: Path
) -> None:
    missing = str(tmp_path / "ttyUSB9")
    addon_home.write_options(
        {
            **options(1, "first_start"),
            "buses": [
                {
                    "name": "rs485",
                    "type": "serial",
                    "serial_port": missing,
                    "devices": [{"id": "meter", "unit_id": 1, "profile": "sdm630"}],
                }
            ],
        }
    )
    result = await addon_home.start(supervisor.url)
    assert f"identify: serial port {missing} of bus 'rs485' is not there" in result.stderr
    assert result.code == ExitCode.SERIAL_PORT
