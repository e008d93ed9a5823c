"""`pv-collector identify`: scan a serial line, a host or the configured buses and print the configuration.

    pv-collector identify --serial /dev/ttyUSB0 [--baudrate 9600] [--parity N] [--units 1-247]
    pv-collector identify --host 192.168.1.50 [--port 502] [--units 0,1,2,3,71,100,126,247]
    pv-collector identify --host 192.168.1.50 --logger-serial 2712345678   # a Solarman V5 logger on 8899
    pv-collector identify --config site.yaml [--bus NAME]

Progress goes to stderr, the proposed `buses:` YAML (docs/configuration.md) to stdout. Ctrl-C (or SIGTERM)
stops the scan after the request on the wire and still prints what was found. Exit codes: 0 a device was
identified, 1 nothing was (or the scan was interrupted, or the port could not be opened), 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from pv_collector.config import LOGGER_SERIAL_MAX, BusConfig, load_config
from pv_collector.errors import ConfigError, ExitCode, ModbusConnectionError
from pv_collector.identify import (
    RTU_UNITS,
    BusFinding,
    SerialSetting,
    parse_units,
    scan_serial,
    scan_tcp,
    shipped_and_own_profiles,
    tcp_units,
    to_yaml,
    usual_settings,
)
from pv_collector.logs import configure_logging
from pv_collector.runner import until_signal


def _units(text: str) -> list[int]:
    try:
        return parse_units(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _logger_serial(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= LOGGER_SERIAL_MAX:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected the logger stick's serial number, 1..{LOGGER_SERIAL_MAX} (on its label)"
        )
    return int(text)


def _progress(line: str) -> None:
    print(f"identify: {line}", file=sys.stderr, flush=True)


def _settings(args: argparse.Namespace, first: SerialSetting | None = None) -> list[SerialSetting] | None:
    """The serial settings asked for on the command line (every combination), after `first`; None: the
    usual ones."""
    if not args.baudrate and not args.parity and first is None:
        return None
    baudrates = args.baudrate or ([first.baudrate] if first else [9600])
    parities = args.parity or ([first.parity] if first else ["N"])
    chosen = [
        SerialSetting(baudrate=b, parity=p, stopbits=args.stopbits) for b in baudrates for p in parities
    ]
    if first is not None and not args.baudrate and not args.parity:
        profiles = shipped_and_own_profiles(args.profile_dir)
        chosen = [first, *usual_settings(profiles)]
    return list(dict.fromkeys(chosen))


async def _scan(args: argparse.Namespace, findings: list[BusFinding], buses: list[BusConfig]) -> None:
    """Run the scans asked for; every finding lands in `findings` as it is made."""
    dirs = args.profile_dir
    if args.serial:
        await scan_serial(
            args.serial,
            settings=_settings(args),
            units=args.units or RTU_UNITS,
            reply_timeout=args.timeout,
            all_settings=args.all_settings,
            extra_dirs=dirs,
            progress=_progress,
            findings=findings,
        )
    if args.host:
        await scan_tcp(
            args.host,
            ports=args.port,
            units=args.units,
            reply_timeout=args.timeout,
            logger_serial=args.logger_serial,
            extra_dirs=dirs,
            progress=_progress,
            findings=findings,
        )
    for bus in buses:
        configured = sorted({device.unit_id for device in bus.devices})
        if bus.type == "serial":
            first = SerialSetting(baudrate=bus.baudrate, parity=bus.parity, stopbits=bus.stopbits)
            await scan_serial(
                str(bus.port),
                settings=_settings(args, first),
                units=args.units or RTU_UNITS,
                reply_timeout=args.timeout,
                all_settings=args.all_settings,
                extra_dirs=dirs,
                progress=_progress,
                findings=findings,
            )
        else:
            await scan_tcp(
                str(bus.host),
                ports=[int(bus.port)],
                units=args.units or sorted({*tcp_units(shipped_and_own_profiles(dirs)), *configured}),
                reply_timeout=args.timeout,
                logger_serial=bus.logger_serial,
                solarman_port=int(bus.port) if bus.type == "solarman" else None,
                extra_dirs=dirs,
                progress=_progress,
                findings=findings,
            )


def _configured_buses(args: argparse.Namespace) -> list[BusConfig] | None:
    if not args.config:
        return []
    try:
        config = load_config(args.config)
    except ConfigError as err:
        for line in err.messages:
            print(line, file=sys.stderr)
        return None
    buses = [bus for bus in config.buses if args.bus is None or bus.name == args.bus]
    if not buses:
        known = ", ".join(bus.name for bus in config.buses)
        print(f"identify: no bus '{args.bus}' in {args.config} (buses: {known})", file=sys.stderr)
        return None
    args.profile_dir = [*args.profile_dir, *config.profile_dirs]
    return buses


def command_identify(args: argparse.Namespace) -> ExitCode:
    """Scan what the arguments name and print the proposed configuration."""
    if not (args.serial or args.host or args.config):
        print("identify: name what to scan: --serial PORT, --host HOST or --config FILE", file=sys.stderr)
        return ExitCode.INVALID_CONFIG
    if args.bus and not args.config:
        print("identify: --bus names a bus of --config FILE", file=sys.stderr)
        return ExitCode.INVALID_CONFIG
    configure_logging("warning")  # the scan's own progress goes to stderr; pymodbus stays quiet
    buses = _configured_buses(args)
    if buses is None:
        return ExitCode.INVALID_CONFIG
    findings: list[BusFinding] = []
    try:
        finished = asyncio.run(until_signal(_scan(args, findings, buses)))
    except ModbusConnectionError as err:
        print(f"identify: {err}", file=sys.stderr)
        finished = False
    if not finished:
        print("identify: stopped before the end; what was found so far:", file=sys.stderr)
    print(to_yaml(findings), end="")
    identified = any(unit.profile_id for finding in findings for unit in finding.units)
    return ExitCode.OK if finished and identified else ExitCode.FAILED


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `identify` to the `pv-collector` command line."""
    identify = commands.add_parser(
        "identify",
        help="find the Modbus devices on a serial line or host and print the configuration to paste",
        description="Reads only (never writes). Progress on stderr, the proposed buses: YAML on stdout.",
    )
    where = identify.add_argument_group("what to scan (one or more)")
    where.add_argument("--serial", metavar="PORT", help="an RS-485 adapter, e.g. /dev/ttyUSB0")
    where.add_argument("--host", metavar="HOST", help="a Modbus TCP device or gateway")
    where.add_argument("--config", metavar="FILE", help="scan the buses of this configuration")
    where.add_argument("--bus", metavar="NAME", help="with --config: only this bus")
    options = identify.add_argument_group("options")
    options.add_argument(
        "--baudrate", type=int, action="append", metavar="BAUD", help="serial speed to try (repeatable)"
    )
    options.add_argument(
        "--parity", action="append", choices=["N", "E", "O"], help="serial parity to try (repeatable)"
    )
    options.add_argument(
        "--stopbits", type=int, choices=[1, 2], default=1, help="serial stop bits (default 1)"
    )
    options.add_argument(
        "--port", type=int, action="append", metavar="PORT", help="TCP port to try (repeatable)"
    )
    options.add_argument(
        "--units", type=_units, metavar="IDS", help="unit ids to ask, e.g. 1-247 or 1,2,71 (default: usual)"
    )
    options.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for an answer")
    options.add_argument(
        "--all-settings",
        action="store_true",
        help="serial: scan every setting that answers, not only the first",
    )
    options.add_argument(
        "--logger-serial",
        type=_logger_serial,
        metavar="N",
        help="serial number of a Solarman V5 data logger (port 8899): scans it as a solarman bus",
    )
    options.add_argument(
        "--profile-dir", action="append", type=Path, default=[], metavar="DIR", help="folder of own profiles"
    )
    identify.set_defaults(handler=command_identify)
