"""`pv-collector identify` against register images of real and documented devices, served by
`pv-collector simulate --image` over a pseudo-terminal RTU line and over Modbus TCP: each is found at its
unit id with the right profile, nothing is written, Ctrl-C stops a scan and keeps what it found, and the
configuration printed is one the collector accepts."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import AsyncModbusTcpClient

from pv_collector.config import BusConfig, validate_config
from pv_collector.errors import ModbusError, ModbusTimeout, ProfileError
from pv_collector.identify import (
    PRESENCE,
    BusFinding,
    SerialSetting,
    UnitFinding,
    connection_hints,
    identify_on_bus,
    parse_units,
    quick_units,
    scan_serial,
    scan_tcp,
    scan_timeout,
    shipped_and_own_profiles,
    to_yaml,
    usual_settings,
    yaml_text,
)
from pv_collector.identify import scan as identify_scan
from pv_collector.model import Function
from pv_collector.profile import load_profile
from pv_collector.register_image import Identity, RegisterImage, Source, SourceKind
from pv_collector.simulator.modbus_server import UnitServer
from pv_collector.simulator.replay import ImageArgument, replayed_units
from pv_collector.transport import Bus
from tests.collector.device_images import FIXTURES
from tests.collector.v5_logger import V5Logger
from tests.mosquitto import free_port

# Devices on the test bus: unit id -> (image, the profile identify must name).
RTU_BUS = {
    2: ("sdm630/eastron_register_table.json", "sdm630"),
    5: ("sungrow_sh_rt/protocol_register_table.json", "sungrow_sh_rt"),
    7: ("sunspec/specification_meters.json", "sunspec"),
    9: ("pv_sim_battery/simulator_june_noon.json", "pv_sim_battery"),
}
TCP_BUS = {  # on the unit ids identify asks over TCP by default
    1: ("sdm120/eastron_register_table.json", "sdm120"),
    2: ("generic_example/profile_comments.json", "generic_example"),
    3: ("pv_sim_environment/simulator_june_noon.json", "pv_sim_environment"),
    71: ("sunspec/kostal_plenticore_plus_8.json", "sunspec"),
    126: ("sunspec/fronius_symo_8_2_3_m.json", "sunspec"),
}


def image_arguments(bus: dict[int, tuple[str, str]]) -> list[str]:
    return [
        argument
        for unit, (image, _p) in bus.items()
        for argument in ("--image", f"{FIXTURES / image}@{unit}")
    ]


def proposed(stdout: str) -> dict[int, str]:
    """unit id -> profile of the YAML identify printed (it must load as YAML)."""
    document = yaml.safe_load(stdout)
    return {device["unit_id"]: device["profile"] for bus in document["buses"] for device in bus["devices"]}


def accepted_by_the_collector(stdout: str, tmp_path: Path) -> None:
    """The printed buses, pasted into a configuration, validate as one."""
    document = yaml.safe_load(stdout)
    validate_config(
        {"collector": {"id": "test"}, "mqtt": {"host": "127.0.0.1"}, "buses": document["buses"]},
        base_dir=tmp_path,
    )


async def listening(port: int, process: asyncio.subprocess.Process) -> None:
    """Wait until the replay process serves TCP (it serves RTU before it listens)."""
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    try:
        while not await client.connect():
            assert process.returncode is None, "the replay ended"
            assert loop.time() < deadline, "the replay did not listen"
    finally:
        client.close()


@contextlib.asynccontextmanager
async def simulate(bus: dict[int, tuple[str, str]], serial: str | None = None) -> AsyncIterator[int]:
    """`pv-collector simulate --image ...` as its own process; yields its TCP port."""
    port = free_port()
    extra = ["--serial", serial] if serial else []
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pv_collector", "simulate", *image_arguments(bus),
        "--port", str(port), *extra, "--log-level", "warning",
    )  # fmt: skip
    try:
        await listening(port, process)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10)


async def identify(*argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pv_collector", "identify", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


# ---------------------------------------------------------------------------------------------- RTU


async def test_identify_finds_every_device_on_an_rtu_line(pty_pair: tuple[str, str], tmp_path: Path) -> None:
    async with simulate(RTU_BUS, serial=pty_pair[0]):
        code, stdout, stderr = await identify("--serial", pty_pair[1], "--units", "1-10")
    assert code == 0, stderr
    assert proposed(stdout) == {unit: profile for unit, (_image, profile) in RTU_BUS.items()}
    bus = yaml.safe_load(stdout)["buses"][0]
    assert (bus["type"], bus["serial_port"], bus["baudrate"], bus["parity"], bus["stopbits"]) == (
        "serial",
        pty_pair[1],
        9600,
        "N",
        1,
    )
    assert "GUESSED" not in stdout.split("buses:", 1)[1]  # every device is sure
    assert "# unit 7: sure: SunSpec at 40000, models 1, 201, 202, 203, 204" in stdout
    accepted_by_the_collector(stdout, tmp_path)


async def test_ctrl_c_stops_a_scan_and_prints_what_it_found(pty_pair: tuple[str, str]) -> None:
    async with simulate({1: RTU_BUS[2]}, serial=pty_pair[0]):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pv_collector", "identify", "--serial", pty_pair[1],
            "--baudrate", "9600", "--parity", "N",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stderr is not None
        seen = []
        while not any("asking units 1-247" in line for line in seen):
            line = await asyncio.wait_for(process.stderr.readline(), 30)
            assert line, "identify ended before the full scan began"
            seen.append(line.decode())
        process.send_signal(signal.SIGINT)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 1
    assert "stopped before the end" in stderr.decode()
    text = stdout.decode()
    assert proposed(text) == {1: "sdm630"}
    assert "the scan was interrupted" in text


async def test_each_unit_is_asked_once_per_line_setting(pty_pair: tuple[str, str]) -> None:
    """The quick units are not asked again by the full scan that follows (in-process, counted at the
    server; holding register 0 of the battery image answers the presence read)."""
    image = FIXTURES / RTU_BUS[9][0]
    units = replayed_units([ImageArgument(image, 1), ImageArgument(image, 2)])  # one device, two unit ids
    server = UnitServer(units)
    reads: list[tuple[int, Function, int, int]] = []
    server.on_read = lambda unit, function, address, count: reads.append((unit, function, address, count))
    await server.start_rtu(pty_pair[0], baudrate=9600)
    try:
        findings = await scan_serial(pty_pair[1], settings=[SerialSetting(baudrate=9600)], units=range(1, 6))
    finally:
        await server.stop()
    assert [(u.unit_id, u.profile_id, u.also_units) for f in findings for u in f.units] == [
        (1, "pv_sim_battery", [2])
    ]
    # Each unit: the presence read, and the identify probe of the same register if a profile has one (the
    # Deye profiles' device type at holding 0; asked once however many profiles probe it). Asked again by
    # the full scan, a unit would show twice as many.
    probed = any(
        (probe.function, probe.address, probe.words) == PRESENCE
        for profile in shipped_and_own_profiles()
        for probe in profile.identify
    )
    assert reads.count((1, Function.HOLDING, 0, 1)) == 1 + probed
    assert reads.count((2, Function.HOLDING, 0, 1)) == 1 + probed
    assert sum(server.writes.values()) == 0


async def test_nothing_answering_says_what_was_tried(pty_pair: tuple[str, str]) -> None:
    code, stdout, _stderr = await identify(
        "--serial", pty_pair[1], "--baudrate", "9600", "--parity", "N", "--units", "1-3", "--timeout", "0.05"
    )
    assert code == 1
    assert "no unit 1, 2, 3 answered at 9600 8N1" in stdout
    assert yaml.safe_load(stdout) == {"buses": None}


# ---------------------------------------------------------------------------------------------- TCP


@contextlib.asynccontextmanager
async def serving(bus: dict[int, tuple[str, str]]) -> AsyncIterator[tuple[UnitServer, int]]:
    """The images as units of one in-process Modbus TCP server (requests and writes are counted)."""
    units = replayed_units([ImageArgument(FIXTURES / image, unit) for unit, (image, _p) in bus.items()])
    server = UnitServer(units)
    port = await server.start("127.0.0.1", 0)
    try:
        yield server, port
    finally:
        await server.stop()


async def test_identify_finds_every_device_behind_a_tcp_port_and_never_writes(tmp_path: Path) -> None:
    lines: list[str] = []
    async with serving(TCP_BUS) as (server, port):
        findings = await scan_tcp("127.0.0.1", ports=[port], progress=lines.append)
    assert sum(server.writes.values()) == 0
    assert sum(server.requests.values()) > 0
    assert [(f.type, f.port) for f in findings] == [("tcp", port)]
    found = {unit.unit_id: (unit.profile_id, unit.sure) for unit in findings[0].units}
    assert found == {unit: (profile, True) for unit, (_image, profile) in TCP_BUS.items()}
    text = to_yaml(findings)
    assert proposed(text) == {unit: profile for unit, (_image, profile) in TCP_BUS.items()}
    assert "the device reports manufacturer KOSTAL, model PLENTICORE plus8" in text
    accepted_by_the_collector(text, tmp_path)


async def test_the_command_line_scans_a_host(tmp_path: Path) -> None:
    async with serving(TCP_BUS) as (_server, port):
        code, stdout, stderr = await identify("--host", "127.0.0.1", "--port", str(port))
    assert code == 0, stderr
    assert proposed(stdout) == {unit: profile for unit, (_image, profile) in TCP_BUS.items()}
    accepted_by_the_collector(stdout, tmp_path)


async def test_a_device_answering_on_every_unit_id_is_proposed_once() -> None:
    same = {1: TCP_BUS[1], 2: TCP_BUS[1], 100: TCP_BUS[1]}
    async with serving(same) as (_server, port):
        findings = await scan_tcp("127.0.0.1", ports=[port])
    (unit,) = findings[0].units
    assert (unit.unit_id, unit.also_units) == (1, [2, 100])
    assert "the same device also answers on unit(s) 2, 100" in to_yaml(findings)


async def test_a_closed_port_and_a_silent_port_are_notes() -> None:
    closed = free_port()
    async with serving({}) as (_server, silent):
        findings = await scan_tcp("127.0.0.1", ports=[closed, silent], units=[1, 2])
    assert [f.port for f in findings] == [silent]
    assert findings[0].notes == [f"port {silent} accepts connections, but no unit 1, 2 answered"]
    assert yaml.safe_load(to_yaml(findings)) == {"buses": None}  # nothing to paste


async def test_an_open_logger_port_without_a_logger_serial_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(identify_scan, "SOLARMAN_PORT", port)
    try:
        findings = await scan_tcp("127.0.0.1", ports=[port], units=[1])
    finally:
        server.close()
        await server.wait_closed()
    note = (
        f"port {port} is open: probably a Solarman V5 data logger (Deye, Sofar, Solis); give its serial "
        "number (on its label) with --logger-serial N to scan it"
    )
    assert [(f.type, f.notes) for f in findings] == [("solarman", [note])]


# ---------------------------------------------------------------------------------------------- Solarman V5

LOGGER_SERIAL = 2712345678
BEHIND_THE_LOGGER = {1: RTU_BUS[5]}  # a hybrid inverter at unit 1 of the logger's RS-485 port


@contextlib.asynccontextmanager
async def logger_stick(bus: dict[int, tuple[str, str]]) -> AsyncIterator[tuple[V5Logger, UnitServer]]:
    """A Solarman V5 logger relaying to the images (tests/collector/v5_logger.py)."""
    async with serving(bus) as (server, modbus_port):
        logger = V5Logger(LOGGER_SERIAL, modbus_port, relay_timeout=0.1)
        await logger.start()
        try:
            yield logger, server
        finally:
            await logger.stop()


async def test_identify_scans_port_8899_as_a_solarman_logger(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`pv-collector identify --host H --logger-serial N`: the logger's port goes through the solarman bus."""
    lines: list[str] = []
    async with logger_stick(BEHIND_THE_LOGGER) as (logger, server):
        monkeypatch.setattr(identify_scan, "SOLARMAN_PORT", logger.port)
        findings = await scan_tcp(
            "127.0.0.1",
            ports=[logger.port],
            units=[0, 1, 2],
            logger_serial=LOGGER_SERIAL,
            progress=lines.append,
        )
    assert sum(server.writes.values()) == 0
    assert [(f.type, f.port, f.logger_serial) for f in findings] == [("solarman", logger.port, LOGGER_SERIAL)]
    assert [(u.unit_id, u.profile_id, u.sure) for u in findings[0].units] == [(1, "sungrow_sh_rt", True)]
    assert f"127.0.0.1:{logger.port} (solarman): asking units 1, 2" in lines  # no broadcast unit 0 on RS-485
    text = to_yaml(findings)
    bus = yaml.safe_load(text)["buses"][0]
    assert (bus["name"], bus["type"], bus["port"], bus["logger_serial"]) == (
        "solarman-127-0-0-1",
        "solarman",
        logger.port,
        LOGGER_SERIAL,
    )
    assert f"# solarman 127.0.0.1:{logger.port} (logger {LOGGER_SERIAL}): 1 unit(s) answered" in text
    accepted_by_the_collector(text, tmp_path)


async def test_identify_names_the_serial_a_logger_answers_with(monkeypatch: pytest.MonkeyPatch) -> None:
    async with logger_stick(BEHIND_THE_LOGGER) as (logger, _server):
        monkeypatch.setattr(identify_scan, "SOLARMAN_PORT", logger.port)
        findings = await scan_tcp("127.0.0.1", ports=[logger.port], units=[1], logger_serial=1234567890)
    assert [(f.type, f.units, f.complete) for f in findings] == [("solarman", [], True)]
    assert findings[0].notes == [
        f"the logger answers with serial number {LOGGER_SERIAL}, not 1234567890: its serial number is on the "
        "logger stick's label and its web page (not the inverter's)"
    ]
    assert len(logger.requests) == 1


async def test_identify_scans_a_configured_solarman_bus(tmp_path: Path) -> None:
    async with logger_stick(BEHIND_THE_LOGGER) as (logger, _server):
        site = tmp_path / "site.yaml"
        bus = {"name": "logger", "type": "solarman", "host": "127.0.0.1", "port": logger.port}
        device = {"id": "inverter", "unit_id": 1, "profile": "generic_example"}
        site.write_text(
            yaml.safe_dump(
                {
                    "collector": {"id": "test"},
                    "mqtt": {"host": "127.0.0.1"},
                    "buses": [{**bus, "logger_serial": LOGGER_SERIAL, "devices": [device]}],
                }
            )
        )
        code, stdout, stderr = await identify("--config", str(site), "--units", "1,2")
    assert code == 0, stderr
    assert proposed(stdout) == {1: "sungrow_sh_rt"}
    assert yaml.safe_load(stdout)["buses"][0]["logger_serial"] == LOGGER_SERIAL
    accepted_by_the_collector(stdout, tmp_path)


def test_a_bad_logger_serial_on_the_command_line_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from pv_collector.cli import main

    with pytest.raises(SystemExit) as exit_code:
        main(["identify", "--host", "127.0.0.1", "--logger-serial", "12ab"])
    assert exit_code.value.code == 2
    assert "--logger-serial: '12ab': expected the logger stick's serial number" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- the page


async def test_identify_one_unit_on_a_running_bus() -> None:
    plain = RegisterImage(
        identity=Identity(profile="none"),
        source=Source(kind=SourceKind.DOCUMENT, citation="test"),
        tables={Function.HOLDING: {0: 0x7A7A}},  # a register no profile's probes claim (Deye: 3, 5 there)
    )
    async with serving(TCP_BUS) as (_server, port):
        units = UnitServer({**replayed_units([]), 9: _Static(9, plain)})
        other = await units.start("127.0.0.1", 0)
        bus = Bus(BusConfig(name="page", type="tcp", host="127.0.0.1", port=port, timeout=0.3, retries=0))
        unknown = Bus(
            BusConfig(name="plain", type="tcp", host="127.0.0.1", port=other, timeout=0.3, retries=0)
        )
        try:
            report = await identify_on_bus(bus, 71)
            with pytest.raises(ModbusError):
                await identify_on_bus(bus, 5)
            with pytest.raises(ProfileError, match="unit 9 answers, but no profile"):
                await identify_on_bus(unknown, 9)
        finally:
            await bus.close()
            await unknown.close()
            await units.stop()
    assert report.device == {
        "id": "inverter_71",
        "name": "KOSTAL PLENTICORE plus8",
        "unit_id": 71,
        "profile": "sunspec",
    }
    assert report.found["sunspec_models"] == "1,103"
    assert report.found["serial"] == "SN00000000000"
    assert yaml.safe_load(report.yaml) == [report.device]


class _Static:
    """A unit answering from one register image (no file behind it)."""

    def __init__(self, unit_id: int, image: RegisterImage) -> None:
        self.unit_id = unit_id
        self.offline = False
        self.image = image

    def read(self, function: Function, address: int, count: int) -> list[int]:
        return self.image.read(function, address, count)

    def write(self, address: int, values: list[int], now: float) -> Any:
        raise AssertionError("identify wrote")


# ---------------------------------------------------------------------------------------------- pieces


def test_the_usual_settings_start_with_what_the_profiles_document() -> None:
    profiles = shipped_and_own_profiles()
    settings = usual_settings(profiles)
    assert settings[0] == SerialSetting(baudrate=9600, parity="N", stopbits=1)
    assert len(settings) == len(set(settings))
    assert SerialSetting(baudrate=19200, parity="E") in settings
    # 1, 2 and 3 first, then every unit id a shipped profile documents (the simulator's 4, KOSTAL's 71,
    # the Victron GX's 30, 100 and 225, ...), ascending, each once
    units = {p.connection.unit_id for p in profiles if p.connection.unit_id is not None}
    documented = sorted(units - {1, 2, 3})
    assert {4, 71, 100} <= set(documented)
    assert quick_units(profiles, range(1, 248)) == [1, 2, 3, *(unit for unit in documented if unit <= 247)]
    assert quick_units(profiles, [2, 3]) == [2, 3]


def test_a_scan_waits_for_the_line_and_a_turnaround() -> None:
    assert scan_timeout(9600) < scan_timeout(2400)
    assert 0.07 < scan_timeout(9600) < 0.08  # one 1-register exchange at 9600 baud plus 50 ms
    assert scan_timeout(None) == 0.2


@pytest.mark.parametrize(
    ("text", "units"),
    [("1-3", [1, 2, 3]), ("1,2,71", [1, 2, 71]), ("1-2,2,100", [1, 2, 100]), ("0x10", [16])],
)
def test_unit_lists(text: str, units: list[int]) -> None:
    assert parse_units(text) == units


@pytest.mark.parametrize(("text", "message"), [("a", "'a' is not a unit id"), ("5-2", "unit ids are 0..255")])
def test_bad_unit_lists(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_units(text)


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("Eastron SDM630", "Eastron SDM630"),
        ("yes", '"yes"'),
        ("5000", '"5000"'),
        ("a: b", '"a: b"'),
        ("#1", '"#1"'),
        ("-x", '"-x"'),
    ],
)
def test_texts_in_the_yaml_read_back_as_texts(text: str, written: str) -> None:
    assert yaml_text(text) == written
    assert yaml.safe_load(written) == text


def test_connection_hints_name_what_differs_from_the_vendor_document() -> None:
    profile = load_profile("sdm630")
    bus = BusConfig(name="rs485", type="serial", serial_port="/dev/ttyUSB0", baudrate=19200, parity="E")
    assert connection_hints(profile, bus, None) == [
        "the vendor documents baud 9600 (this bus: 19200)",
        "the vendor documents parity N (this bus: E)",
    ]
    tcp = BusConfig(name="lan", type="tcp", host="h", port=1502)
    assert connection_hints(load_profile("sungrow_sh_rt"), tcp, None) == [
        "the vendor documents TCP port 502 (this bus: 1502)"
    ]


def test_a_unit_without_a_profile_is_a_comment_not_a_device() -> None:
    finding = BusFinding(type="serial", port="/dev/ttyUSB0", baudrate=9600, parity="N", complete=True)
    finding.units.append(UnitFinding(unit_id=12))
    text = to_yaml([finding])
    assert "# unit 12 answers, but no profile matches" in text
    assert yaml.safe_load(text) == {"buses": None}


async def test_a_unit_that_misses_the_short_scan_timeout_once_is_still_identified(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A device answers the presence read, then misses the scan's short timeout once while it is identified
    (busy, a slow gateway): it is asked once more and proposed with its profile, not listed as an unknown
    unit (before: a second, profile-less unit beside the same device on another unit id)."""
    same = {1: TCP_BUS[1], 2: TCP_BUS[1]}
    missed: list[int] = []
    real = identify_scan.identify_unit

    async def slow_once(reader: Any, unit_id: int, *args: Any, **kwargs: Any) -> Any:
        if unit_id == 2 and not missed:
            missed.append(unit_id)
            raise ModbusTimeout("no answer within 0.2 s")
        return await real(reader, unit_id, *args, **kwargs)

    monkeypatch.setattr(identify_scan, "identify_unit", slow_once)
    async with serving(same) as (_server, port):
        findings = await scan_tcp("127.0.0.1", ports=[port], units=[1, 2])
    assert missed == [2]
    (unit,) = findings[0].units
    assert (unit.unit_id, unit.also_units) == (1, [2])
