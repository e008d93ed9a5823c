"""Which units answer on a serial line or a host, each identified as it is found.

On a serial line (`scan_serial`) the usual settings are tried on the units most devices use (`QUICK_UNITS`
and the unit ids the profiles document) until one answers; units 1..247 are then scanned at that setting
only (`all_settings` scans every setting that answered). Over TCP (`scan_tcp`) every usual port that
accepts a connection is asked for the usual unit ids, with Modbus TCP framing, else RTU framing; port 8899,
given the logger's serial number, as a Solarman V5 data logger (a `solarman` bus, pv_collector.solarman).
A unit is there when it answers the presence read (`probes.unit_is_there`).

Over TCP the bus waits the longest `connection.delay_after_connect` any profile documents after opening a
connection (a Huawei inverter answers nothing in its first second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pv_collector.config import SOLARMAN_PORT, BusConfig
from pv_collector.errors import LoggerSerialMismatch, ModbusTimeout
from pv_collector.identify.findings import BusFinding, UnitFinding
from pv_collector.identify.probes import identify_unit, shipped_and_own_profiles, unit_is_there
from pv_collector.model import Connection, Profile
from pv_collector.transport import Bus

_LOGGER = logging.getLogger(__name__)

TCP_PORTS = (502, 1502, 6607, 8899)
TCP_UNITS = (0, 1, 2, 3, 71, 100, 126, 247)
RTU_UNITS = tuple(range(1, 248))
QUICK_UNITS = (1, 2, 3)  # asked first at every serial setting, with the unit ids the profiles document
BAUDRATES = (9600, 19200, 4800, 2400, 38400, 57600, 115200)
PARITIES: tuple[Literal["N", "E", "O"], ...] = ("N", "E", "O")
IDENTIFY_ATTEMPTS = 2  # a unit that answered the presence read is asked this often to identify itself
TURNAROUND = 0.05  # seconds a device may take to start its answer in a scan
CONNECT_TIMEOUT = 2.0  # seconds to open a TCP port
SOLARMAN_TIMEOUT = 2.0  # seconds a scan waits for a Solarman V5 logger, which relays each request on RS-485

type Progress = Callable[[str], None]


def scan_timeout(baudrate: int | None) -> float:
    """Seconds to wait for an answer in a scan: a one-register request and its answer on the line (11 bits
    per character, 3.5 characters of silence after each frame), plus `TURNAROUND`; TCP: 0.2 s."""
    if baudrate is None:
        return 0.2
    characters = 8 + 3.5 + 7 + 3.5
    return round(characters * 11 / baudrate + TURNAROUND, 3)


@dataclass(frozen=True, slots=True, kw_only=True)
class SerialSetting:
    """One line setting to try."""

    baudrate: int
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1

    def describe(self) -> str:
        """`9600 8N1`."""
        return f"{self.baudrate} 8{self.parity}{self.stopbits}"


def usual_settings(profiles: Sequence[Profile]) -> list[SerialSetting]:
    """Line settings to try, most likely first: those the profiles document (most often first), then
    every usual speed with no parity, then with even and odd parity."""
    documented: dict[SerialSetting, int] = {}
    for profile in profiles:
        connection = profile.connection
        if connection.baudrate is not None:
            setting = SerialSetting(
                baudrate=connection.baudrate,
                parity=connection.parity or "N",
                stopbits=connection.stopbits or 1,
            )
            documented[setting] = documented.get(setting, 0) + 1
    ordered = sorted(documented, key=lambda s: (-documented[s], s.baudrate, s.parity))
    for parity in PARITIES:
        ordered.extend(SerialSetting(baudrate=baudrate, parity=parity) for baudrate in BAUDRATES)
    return list(dict.fromkeys(ordered))


def tcp_units(profiles: Sequence[Profile]) -> list[int]:
    """The unit ids asked over TCP: `TCP_UNITS` and those the profiles document."""
    documented = {p.connection.unit_id for p in profiles if p.connection.unit_id is not None}
    return sorted({*TCP_UNITS, *documented})


def quick_units(profiles: Sequence[Profile], units: Sequence[int]) -> list[int]:
    """The units asked at every setting before a full scan: 1, 2, 3 and those the profiles document."""
    documented = [p.connection.unit_id for p in profiles if p.connection.unit_id is not None]
    wanted = [*QUICK_UNITS, *sorted(set(documented))]
    return [unit for unit in dict.fromkeys(wanted) if unit in units]


async def _identify_units(
    bus: Bus,
    units: Iterable[int],
    profiles: Sequence[Profile],
    finding: BusFinding,
    *,
    extra_dirs: Sequence[Path],
    progress: Progress,
) -> None:
    """Ask each unit whether it is there and identify those that are; results go into `finding` as found.
    A unit already asked on this bus is not asked again."""
    for unit_id in units:
        if unit_id in finding.asked:
            continue
        finding.asked.add(unit_id)
        if not await unit_is_there(bus, unit_id):
            continue
        unit = await _identified(bus, unit_id, profiles, extra_dirs)
        same = next((u for u in finding.units if u.signature and u.signature == unit.signature), None)
        if same is not None:
            same.also_units.append(unit_id)
            progress(f"unit {unit_id}: the same device as unit {same.unit_id}")
            continue
        finding.units.append(unit)
        certainty = "sure" if unit.sure else "guessed"
        progress(f"unit {unit_id}: {unit.profile_id or 'no profile matches'} ({certainty}: {unit.reason()})")


async def _identified(
    bus: Bus, unit_id: int, profiles: Sequence[Profile], extra_dirs: Sequence[Path]
) -> UnitFinding:
    """What `unit_id`, which has just answered the presence read, is. A scan's timeout is short: a device
    that misses it once while being identified (busy, a slow gateway) gets a second chance before it is
    listed as an unknown unit of its own."""
    for attempt in range(IDENTIFY_ATTEMPTS):
        try:
            return await identify_unit(bus.reader(unit_id), unit_id, profiles, extra_dirs=extra_dirs)
        except ModbusTimeout:
            if attempt + 1 < IDENTIFY_ATTEMPTS:
                _LOGGER.debug("unit %d: no answer while being identified, asking once more", unit_id)
    return UnitFinding(unit_id=unit_id)


def _serial_bus(port: str, setting: SerialSetting, timeout: float) -> BusConfig:
    return BusConfig(
        name="identify",
        type="serial",
        serial_port=port,
        baudrate=setting.baudrate,
        parity=setting.parity,
        stopbits=setting.stopbits,
        timeout=timeout,
        retries=0,
    )


async def scan_serial(
    port: str,
    *,
    settings: Sequence[SerialSetting] | None = None,
    units: Sequence[int] = RTU_UNITS,
    reply_timeout: float | None = None,
    all_settings: bool = False,
    extra_dirs: Sequence[Path] = (),
    progress: Progress = lambda _line: None,
    findings: list[BusFinding] | None = None,
    bus_factory: Callable[[BusConfig], Bus] | None = None,
) -> list[BusFinding]:
    """Scan a serial line: each setting (default `usual_settings`) is tried on the quick units; the first
    that answers (every one, with `all_settings`) is scanned over `units`.

    Findings are appended to `findings` (given, or a new list) as they are made, so an interrupted scan
    leaves what it found there (`complete` False). Raises `ModbusConnectionError` when the port cannot be
    opened.
    """
    profiles = shipped_and_own_profiles(extra_dirs)
    found = findings if findings is not None else []
    tried = list(settings) if settings else usual_settings(profiles)
    quick = quick_units(profiles, units) or list(units)[:3]
    answered = 0
    for index, setting in enumerate(tried):
        current = BusFinding(
            type="serial",
            port=port,
            baudrate=setting.baudrate,
            parity=setting.parity,
            stopbits=setting.stopbits,
        )
        found.append(current)
        wait = reply_timeout or scan_timeout(setting.baudrate)
        bus = _make_bus(_serial_bus(port, setting, wait), bus_factory)
        try:
            progress(f"{port} at {setting.describe()}: asking units {_units_text(quick)}")
            await _identify_units(bus, quick, profiles, current, extra_dirs=extra_dirs, progress=progress)
            if current.units:
                progress(f"{port} at {setting.describe()}: devices answer; asking units {_units_text(units)}")
                await _identify_units(bus, units, profiles, current, extra_dirs=extra_dirs, progress=progress)
        finally:
            await bus.close()
        current.complete = True
        if not current.units:
            found.remove(current)
            continue
        answered += 1
        if not all_settings:
            if index < len(tried) - 1:
                current.notes.append("other line settings were not tried (--all-settings tries them)")
            break
    if not answered:
        settings_text = ", ".join(s.describe() for s in tried)
        found.append(
            BusFinding(
                type="serial",
                port=port,
                complete=True,
                notes=[
                    f"no unit {_units_text(quick)} answered at {settings_text}; check the wiring (A/B), "
                    "the termination and the devices' power"
                ],
            )
        )
    return found


def solarman_bus(
    host: str, logger_serial: int | None, timeout: float, port: int = SOLARMAN_PORT
) -> BusConfig | None:
    """The `solarman` bus of a Solarman V5 data logger on `host`, or None without the logger's serial number
    (every V5 frame carries it; a logger answers no request with another)."""
    if logger_serial is None:
        return None
    return BusConfig(
        name="identify",
        type="solarman",
        host=host,
        port=port,
        logger_serial=logger_serial,
        timeout=timeout,
        retries=0,
    )


async def _port_open(host: str, port: int) -> bool:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _scan_port_with(
    bus: Bus,
    asked: Sequence[int],
    profiles: Sequence[Profile],
    finding: BusFinding,
    *,
    extra_dirs: Sequence[Path],
    progress: Progress,
) -> bool:
    """Ask `asked` through `bus` (one framing of one TCP port) into `finding`, and close the bus; True when
    the port's scan is over: units answered, or the Solarman logger refused its serial number (noted)."""
    try:
        await _identify_units(bus, asked, profiles, finding, extra_dirs=extra_dirs, progress=progress)
    except LoggerSerialMismatch as err:
        finding.notes.append(
            f"the logger answers with serial number {err.answered}, not {err.configured}: its serial "
            "number is on the logger stick's label and its web page (not the inverter's)"
        )
        progress(f"{finding.host}:{finding.port}: {err}")
        finding.complete = True
        return True
    finally:
        await bus.close()
    finding.complete = True
    return bool(finding.units)


async def scan_tcp(
    host: str,
    *,
    ports: Sequence[int] | None = None,
    units: Sequence[int] | None = None,
    reply_timeout: float | None = None,
    logger_serial: int | None = None,
    solarman_port: int | None = None,
    extra_dirs: Sequence[Path] = (),
    progress: Progress = lambda _line: None,
    findings: list[BusFinding] | None = None,
    bus_factory: Callable[[BusConfig], Bus] | None = None,
) -> list[BusFinding]:
    """Scan the Modbus ports of `host` (default: `TCP_PORTS` and the ports the profiles document): every
    port that accepts a connection is asked for `units` (default: `TCP_UNITS` and the unit ids the
    profiles document) with Modbus TCP framing, else RTU framing (a transparent RS-485 gateway). Port
    `solarman_port` (default `SOLARMAN_PORT`, 8899) is a Solarman V5 data logger, scanned through
    `solarman_bus` when `logger_serial` is given (units 1..247: the logger relays to an RS-485 line).
    Findings are appended to `findings` (given, or a new list) as made. Raises `ModbusConnectionError` when
    an open port cannot be used."""
    profiles = shipped_and_own_profiles(extra_dirs)
    if ports is None:
        documented_ports = {p.connection.tcp_port for p in profiles if p.connection.tcp_port is not None}
        ports = list(dict.fromkeys([*TCP_PORTS, *sorted(documented_ports)]))
    if units is None:
        units = tcp_units(profiles)
    delay = max((p.connection.delay_after_connect for p in profiles), default=0.0)
    found = findings if findings is not None else []
    wait = reply_timeout or scan_timeout(None)
    logger_port = SOLARMAN_PORT if solarman_port is None else solarman_port
    for port in ports:
        if not await _port_open(host, port):
            progress(f"{host}:{port}: closed")
            continue
        asked = units
        if port == logger_port:
            config = solarman_bus(host, logger_serial, reply_timeout or SOLARMAN_TIMEOUT, port)
            if config is None:
                note = (
                    f"port {port} is open: probably a Solarman V5 data logger (Deye, Sofar, Solis); give its "
                    "serial number (on its label) with --logger-serial N to scan it"
                )
                empty = BusFinding(type="solarman", port=port, host=host, notes=[note], complete=True)
                found.append(empty)
                progress(f"{host}:{port}: {note}")
                continue
            configs = [config]
            asked = [unit for unit in units if 1 <= unit <= 247]  # unit 0 is a broadcast on RS-485
        else:
            configs = [
                BusConfig(name="identify", type=kind, host=host, port=port, timeout=wait, retries=0)
                for kind in ("tcp", "rtu_over_tcp")
            ]
        for config in configs:
            finding = BusFinding(type=config.type, port=port, host=host, logger_serial=config.logger_serial)
            found.append(finding)
            bus = _make_bus(config, bus_factory)
            for unit_id in asked:  # devices that answer nothing right after a connection is opened (Huawei)
                bus.configure_unit(unit_id, Connection(delay_after_connect=delay))
            progress(f"{host}:{port} ({config.type}): asking units {_units_text(asked)}")
            if await _scan_port_with(bus, asked, profiles, finding, extra_dirs=extra_dirs, progress=progress):
                break
            found.remove(finding)
        else:
            found.append(
                BusFinding(
                    type=configs[0].type if port == logger_port else "tcp",
                    port=port,
                    host=host,
                    logger_serial=configs[0].logger_serial,
                    notes=[f"port {port} accepts connections, but no unit {_units_text(asked)} answered"],
                    complete=True,
                )
            )
    return found


def _make_bus(config: BusConfig, factory: Callable[[BusConfig], Bus] | None) -> Bus:
    if factory is not None:
        return factory(config)
    return Bus(config)


def _units_text(units: Sequence[int]) -> str:
    """`1-247`, `0, 1, 2, 3, 71` for a unit list."""
    ordered = sorted(set(units))
    if len(ordered) > 3 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(str(unit) for unit in ordered)


def parse_units(text: str) -> list[int]:
    """`1-247`, `1,2,71` or a mix (`1-3,100`); ValueError naming the bad part."""
    units: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        first, separator, last = part.partition("-")
        try:
            low, high = int(first, 0), int(last, 0) if separator else int(first, 0)
        except ValueError:
            raise ValueError(f"{part!r} is not a unit id or a range like 1-247") from None
        if not 0 <= low <= high <= 255:
            raise ValueError(f"{part!r}: unit ids are 0..255, the first not above the last")
        units.extend(range(low, high + 1))
    return list(dict.fromkeys(units))
