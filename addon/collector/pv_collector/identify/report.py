"""The configuration `identify` proposes: `buses:` YAML to paste, with what is sure and what is guessed in
comments, the one-unit report of the collector's page, and the hints where a configuration differs from how
the vendor documents reaching a device."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from pv_collector.config import BusConfig, DeviceConfig
from pv_collector.errors import ProfileError
from pv_collector.identify.findings import BusFinding, UnitFinding
from pv_collector.identify.probes import identify_unit, shipped_and_own_profiles
from pv_collector.model import Profile
from pv_collector.transport import Bus, Origin

HEADER = "# proposed by pv-collector identify: check the GUESSED entries before you use them\nbuses:\n"


def to_yaml(findings: Sequence[BusFinding]) -> str:
    """Every scanned bus as one `buses:` list to paste into the configuration (docs/configuration.md) or
    the add-on's options (the same shape)."""
    return HEADER + "".join(bus_yaml(finding) for finding in findings)


def bus_yaml(bus: BusFinding) -> str:
    """The `buses:` entry of one scanned bus as YAML to paste (into the configuration file or the add-on's
    options, which have the same shape), with comments: how sure each device is, and the rest."""
    lines = [f"  # {bus.endpoint()}: {len(bus.units)} unit(s) answered"]
    lines.extend(f"  # note: {note}" for note in bus.notes)
    if not bus.complete:
        lines.append("  # the scan was interrupted: units after the last one found were not asked")
    identified = [unit for unit in bus.units if unit.profile_id]
    for unit in bus.units:
        if not unit.profile_id:
            lines.append(
                f"  # unit {unit.unit_id} answers, but no profile matches: write one (docs/profiles.md)"
            )
    if not identified:
        return "\n".join(lines) + "\n"
    lines.extend(_bus_settings(bus))
    lines.append("    devices:")
    counts: dict[str, int] = {}
    for unit in identified:
        device = unit.device_entry(counts)
        lines.append(f"      # unit {unit.unit_id}: {_certainty(unit)}: {unit.reason()}")
        described = ", ".join(f"{key} {value}" for key, value in unit.info.items())
        if described:
            lines.append(f"      #   the device reports {described}")
        if unit.also_units:
            also = ", ".join(str(u) for u in unit.also_units)
            lines.append(f"      #   the same device also answers on unit(s) {also}")
        lines.extend(_device_lines(device, "      "))
        lines.extend(f"        # hint: {hint}" for hint in _unit_hints(unit, bus))
    return "\n".join(lines) + "\n"


def _bus_settings(bus: BusFinding) -> list[str]:
    """The bus entry's own keys (name, type, where and how it is reached)."""
    entry = bus.bus_entry()
    lines = [f"  - name: {yaml_text(str(entry['name']))}", f"    type: {entry['type']}"]
    if bus.type == "serial":
        lines.append(f"    serial_port: {yaml_text(str(bus.port))}")
        lines.append(f"    baudrate: {bus.baudrate}      # sure: the units below answered at this speed")
        lines.append(f"    parity: {bus.parity}")
        lines.append(f"    stopbits: {bus.stopbits}")
    else:
        lines.append(f"    host: {yaml_text(str(bus.host))}")
        lines.append(f"    port: {bus.port}")
    if bus.type == "solarman":
        lines.append(f"    logger_serial: {bus.logger_serial}")
    return lines


def _certainty(unit: UnitFinding) -> str:
    return "sure" if unit.sure else "GUESSED, check it"


def _device_lines(device: dict[str, object], indent: str) -> list[str]:
    """A proposed `devices:` entry as YAML list item lines."""
    return [
        f"{indent}- id: {device['id']}",
        f"{indent}  name: {yaml_text(str(device['name']))}",
        f"{indent}  unit_id: {device['unit_id']}",
        f"{indent}  profile: {device['profile']}",
    ]


def yaml_text(text: str) -> str:
    """A YAML scalar for `text`: plain when YAML reads it back as the same text, else double-quoted."""
    plain = re.fullmatch(r"[A-Za-z0-9_./][A-Za-z0-9 _./()-]*", text) is not None and not text.endswith(" ")
    if plain and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _unit_hints(unit: UnitFinding, bus: BusFinding) -> list[str]:
    profile = unit.profile
    if profile is None:
        return []
    hints = connection_hints(profile, _as_bus_config(bus), None)
    if profile.connection.delay_after_connect or profile.connection.request_interval:
        connection = profile.connection
        hints.append(
            f"the profile asks for {connection.delay_after_connect:g} s after connecting and "
            f"{connection.request_interval:g} s between requests (applied by the collector)"
        )
    return hints


def _as_bus_config(bus: BusFinding) -> BusConfig:
    serial = bus.type == "serial"
    return BusConfig(
        name=bus.name,
        type=bus.type,
        serial_port=str(bus.port) if serial else None,
        port=502 if serial else int(bus.port),
        host=bus.host,
        baudrate=bus.baudrate or 9600,
        parity=bus.parity or "N",
        stopbits=bus.stopbits,
        logger_serial=bus.logger_serial,
    )


def connection_hints(profile: Profile, bus: BusConfig, device: DeviceConfig | None) -> list[str]:
    """Where a bus or device differs from how the vendor documents reaching the device (the profile's
    `connection`): one line each, e.g. `the vendor documents 19200 baud (this bus: 9600)`."""
    connection = profile.connection
    hints: list[str] = []
    if bus.type == "serial":
        for name, documented, actual in (
            ("baud", connection.baudrate, bus.baudrate),
            ("parity", connection.parity, bus.parity),
            ("stop bits", connection.stopbits, bus.stopbits),
        ):
            if documented is not None and documented != actual:
                hints.append(f"the vendor documents {name} {documented} (this bus: {actual})")
    elif bus.type != "solarman" and connection.tcp_port is not None and connection.tcp_port != bus.port:
        hints.append(f"the vendor documents TCP port {connection.tcp_port} (this bus: {bus.port})")
    if device is not None and connection.unit_id is not None and connection.unit_id != device.unit_id:
        hints.append(f"the vendor's default unit id is {connection.unit_id} (this device: {device.unit_id})")
    return hints


# ---------------------------------------------------------------------------------------------- the page


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitReport:
    """`identify` at one unit id, for the collector page: the proposed `devices:` entry, the same as YAML
    text to copy, and what was found (strings)."""

    device: dict[str, object]
    yaml: str
    found: dict[str, str]
    finding: UnitFinding


async def identify_on_bus(bus: Bus, unit_id: int, *, profile_dirs: Sequence[Path] = ()) -> UnitReport:
    """Identify one unit id on a running collector's bus (its lock and timeouts apply; reads only).

    The reads are a tool's (`Origin.TOOL`): the probes a unit refuses, by design, are no errors of the
    collector's.

    Raises `ModbusError` (`ModbusTimeout`) when the unit does not answer and `ProfileError` when it
    answers but no profile fits.
    """
    profiles = shipped_and_own_profiles(profile_dirs)
    reader = bus.reader(unit_id, origin=Origin.TOOL)
    finding = await identify_unit(reader, unit_id, profiles, extra_dirs=profile_dirs)
    if finding.profile_id is None:
        raise ProfileError(f"unit {unit_id} answers, but no profile's identify probes match")
    device = finding.device_entry()
    lines = [f"# unit {unit_id}: {_certainty(finding)}: {finding.reason()}", *_device_lines(device, "")]
    return UnitReport(device=device, yaml="\n".join(lines) + "\n", found=finding.found(), finding=finding)
