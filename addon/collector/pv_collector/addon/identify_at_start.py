"""`identify` at the add-on's start (option `identify`): what answers on the option's buses, read only, logged
as the `buses:` options to paste (the configuration's shape) and kept in `<data>/identify.yaml`.

Problems on the way (a port that cannot be opened, a file that cannot be written) are logged; they never keep
the collector from starting.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pv_collector.addon.options import profile_dirs
from pv_collector.addon.supervisor import one_line
from pv_collector.config import BusConfig
from pv_collector.errors import ModbusError
from pv_collector.validate import default_of

if TYPE_CHECKING:
    from pv_collector.identify import BusFinding

_LOGGER = logging.getLogger("pv_collector.addon")

IDENTIFY_MODES = ("first_start", "every_start", "off")
IDENTIFY_RESULT = "identify.yaml"  # in the data folder: what identify proposed, and that it ran
EARLIER_START = "outbox.sqlite3"  # the collector's queue in the data folder: the app has run before


def identify_due(options: Mapping[str, Any], data_dir: Path) -> bool:
    """Whether `identify` runs at this start: option `identify` is `every_start`, or `first_start` (the
    default of a new installation) and the app has not run before (no identify result, no collector
    queue in the data folder). Options without the option (written before it existed) mean `off`."""
    mode = options.get("identify", "off")
    if mode == "every_start":
        return True
    if mode != "first_start":
        return False
    return not (data_dir / IDENTIFY_RESULT).exists() and not (data_dir / EARLIER_START).exists()


async def _identify_buses(
    buses: Sequence[Mapping[str, Any]], profile_folders: Sequence[Path]
) -> list[BusFinding]:
    # Imported when a scan is due: pymodbus and aiohttp are a second of start-up on a small machine, and
    # most starts (and every start that ends on a bad option) scan nothing.
    from pv_collector.identify import (  # noqa: PLC0415
        SerialSetting,
        scan_serial,
        scan_tcp,
        shipped_and_own_profiles,
        tcp_units,
        usual_settings,
    )

    def progress(line: str) -> None:
        _LOGGER.info("identify: %s", line)

    profiles = shipped_and_own_profiles(profile_folders)
    findings: list[BusFinding] = []
    for bus in buses:
        devices = [d for d in bus.get("devices") or [] if isinstance(d, dict) and "unit_id" in d]
        if bus.get("type") == "serial":
            settings = None
            if bus.get("baudrate") is not None:
                first = SerialSetting(
                    baudrate=int(bus["baudrate"]),
                    parity=bus.get("parity") or default_of(BusConfig, "parity"),
                    stopbits=int(bus.get("stopbits") or default_of(BusConfig, "stopbits")),
                )
                settings = [first, *usual_settings(profiles)]
            await scan_serial(
                str(bus["serial_port"]),
                settings=settings,
                extra_dirs=profile_folders,
                progress=progress,
                findings=findings,
            )
        else:
            await scan_tcp(
                str(bus["host"]),
                ports=[int(bus.get("port") or default_of(BusConfig, "port"))],
                units=sorted({*tcp_units(profiles), *(d["unit_id"] for d in devices)}),
                extra_dirs=profile_folders,
                progress=progress,
                findings=findings,
            )
    return findings


def _buses_to_identify(options: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The option's buses that can be scanned (a serial port that is not there is named and left out)."""
    buses: list[Mapping[str, Any]] = []
    raw = options.get("buses")
    for bus in raw if isinstance(raw, list) else []:
        if not isinstance(bus, dict):
            continue
        if bus.get("type") == "serial":
            device = bus.get("serial_port")
            if not isinstance(device, str) or not Path(device).exists():
                _LOGGER.warning("identify: serial port %s of bus '%s' is not there", device, bus.get("name"))
                continue
        elif not bus.get("host"):
            continue
        buses.append(bus)
    return buses


def identify_at_start(options: Mapping[str, Any], *, data_dir: Path, config_dir: Path) -> str | None:
    """Identify what answers on the option's buses (`options` already `given`, reads only) when
    `identify_due`, log the proposed `buses:` options and keep them in `<data>/identify.yaml`; returns that
    text (None: not due, or stopped by a bus problem, which is logged)."""
    if not identify_due(options, data_dir):
        return None
    _LOGGER.info("identify: looking for the devices on every bus (reads only; option 'identify')")
    folders = [Path(folder) for folder in profile_dirs(config_dir)]
    try:
        findings = asyncio.run(_identify_buses(_buses_to_identify(options), folders))
    except ModbusError as exc:
        _LOGGER.warning("identify: stopped: %s", one_line(str(exc)))
        return None
    from pv_collector.identify import to_yaml  # noqa: PLC0415 - see _identify_buses

    text = to_yaml(findings)
    result = data_dir / IDENTIFY_RESULT
    _LOGGER.info("identify: the buses option for what was found (also in %s):", result)
    sys.stderr.write(text)
    sys.stderr.flush()
    try:
        result.write_text(text, encoding="utf-8")
    except OSError as exc:
        _LOGGER.warning("identify: cannot keep the result in %s (%s)", data_dir, exc.strerror or exc)
    return text
