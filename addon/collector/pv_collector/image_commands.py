"""The register-image commands of `pv-collector`: `record`, `decode`, and `simulate --image`.

    pv-collector record --config site.yaml --device meter --out meter.json [--range input:0-0x17F]
    pv-collector decode --image meter.json
    pv-collector simulate --image meter.json@2 --port 5020 [--serial /dev/pts/7]

Exit codes as for the other commands (`errors.ExitCode`): 0 ok, 2 bad input (configuration, unknown device,
invalid image; one line naming the problem), 1 the device could not be read or the file not written. A device
that answers nothing is told after two unanswered reads, with what to check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path

from pv_collector.config import BusConfig, Config, DeviceConfig, load_config
from pv_collector.errors import ConfigError, DeviceSilent, ExitCode, ImageError, ModbusError, ProfileError
from pv_collector.identify import connection_hints
from pv_collector.logs import configure_logging
from pv_collector.model import Function, Profile
from pv_collector.profile import load_profile
from pv_collector.recording import Extent, decode_image, record_image
from pv_collector.register_image import RegisterImage, load_image
from pv_collector.runner import until_signal
from pv_collector.simulator.replay import ImageArgument, run_replay
from pv_collector.transport import Bus

_RANGE_RE = re.compile(r"^(holding|input):(0x[0-9a-fA-F]+|\d+)([-+])(0x[0-9a-fA-F]+|\d+)$")


def parse_range(text: str) -> Extent:
    """`holding:40000-40299` (inclusive) or `input:0x0000+80` (start and count); hex or decimal."""
    match = _RANGE_RE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected FUNCTION:START-END or FUNCTION:START+COUNT, e.g. input:0-0x17F"
        )
    function, start_text, sign, other_text = match.groups()
    start, other = int(start_text, 0), int(other_text, 0)
    count = other - start + 1 if sign == "-" else other
    if count < 1 or start + count > 0x10000:
        raise argparse.ArgumentTypeError(f"{text!r}: the range must hold 1 or more registers of 0..65535")
    return Extent(Function(function), start, count)


def _fail(message: str, code: ExitCode) -> ExitCode:
    print(message, file=sys.stderr)
    return code


def _find_device(config: Config, device_id: str) -> tuple[BusConfig, DeviceConfig] | None:
    return next(((bus, device) for bus, device in config.devices if device.id == device_id), None)


def _what_to_check(args: argparse.Namespace, bus: BusConfig, device: DeviceConfig, profile: Profile) -> str:
    """What to check when a device answers nothing: its power, unit id and link by the bus type, where the
    configuration differs from the vendor's documentation, and how to see what does answer."""
    unit = f"its unit id ({device.unit_id})"
    if bus.type == "serial":
        line = f"{bus.baudrate} 8{bus.parity}{bus.stopbits}"
        checks = (
            f"that it is powered, {unit}, the RS-485 wiring (A/B, termination) and the line settings ({line})"
        )
    elif bus.type == "rtu_over_tcp":
        checks = (
            f"that it is powered, {unit}, its RS-485 wiring to the gateway and the gateway's line settings"
        )
    elif bus.type == "solarman":
        checks = f"that the inverter behind the logger is on and {unit}"
    else:
        checks = f"that it is on, {unit}, and that its Modbus TCP server is enabled"
    hints = "".join(f"; {hint}" for hint in connection_hints(profile, bus, device))
    finder = f"pv-collector identify --config {args.config} --bus {bus.name}"
    return f"check {checks}{hints} ({finder} lists what answers)"


def _summary(image: RegisterImage) -> str:
    counts = {function: len(image.tables.get(function, {})) for function in Function}
    registers = ", ".join(f"{count} {function.value}" for function, count in counts.items() if count)
    return (
        f"{registers or 'no'} registers, {len(image.refused)} refused ranges, "
        f"{len(image.not_implemented)} not-implemented ranges"
    )


def command_record(args: argparse.Namespace) -> ExitCode:
    """Read one configured device through its profile and write a register image."""
    try:
        config = load_config(args.config)
    except ConfigError as err:
        for line in err.messages:
            print(line, file=sys.stderr)
        return ExitCode.INVALID_CONFIG
    found = _find_device(config, args.device)
    if found is None:
        known = ", ".join(device.id for _bus, device in config.devices)
        return _fail(
            f"record: no device '{args.device}' in {args.config} (devices: {known})", ExitCode.INVALID_CONFIG
        )
    bus_config, device = found
    try:
        profile = load_profile(device.profile, config.profile_dirs)
    except ProfileError as err:
        return _fail(f"record: {err}", ExitCode.INVALID_CONFIG)

    configure_logging("warning")  # pymodbus' own line for every unanswered request stays quiet

    async def record() -> RegisterImage:
        bus = Bus(bus_config)
        bus.configure_unit(device.unit_id, profile.connection)
        try:
            return await record_image(
                bus.reader(device.unit_id),
                profile,
                unit_id=device.unit_id,
                extents=args.range or (),
                extra_dirs=config.profile_dirs,
                max_gap=bus_config.max_gap,
                citation=args.citation
                or f"recorded with pv-collector record from {bus_config.endpoint}, unit {device.unit_id}",
            )
        finally:
            await bus.close()

    where = f"device {device.id} (unit {device.unit_id} on bus {bus_config.name}, {bus_config.endpoint})"
    try:
        image = asyncio.run(record())
    except DeviceSilent as err:
        return _fail(
            f"record: {where}: {err}: {_what_to_check(args, bus_config, device, profile)}", ExitCode.FAILED
        )
    except (ModbusError, ProfileError) as err:
        return _fail(f"record: {where}: {err}", ExitCode.FAILED)
    try:
        image.save(Path(args.out))
    except ImageError as err:
        return _fail(f"record: {err}", ExitCode.FAILED)
    print(f"recorded {where}: {_summary(image)} -> {args.out}")
    return ExitCode.OK


def command_decode(args: argparse.Namespace) -> ExitCode:
    """Print the values the collector decodes from an image, one JSON key per line, sorted."""
    try:
        image = load_image(args.image)
        profile = load_profile(args.profile or image.identity.profile, args.profile_dir)
        values = asyncio.run(decode_image(image, profile, args.profile_dir))
    except (ImageError, ProfileError) as err:
        return _fail(f"decode: {err}", ExitCode.INVALID_CONFIG)
    except ModbusError as err:
        return _fail(f"decode: {args.image}: {err}", ExitCode.INVALID_CONFIG)
    print(json.dumps(values, indent=1, sort_keys=True, ensure_ascii=False))
    return ExitCode.OK


def command_replay(args: argparse.Namespace) -> ExitCode:
    """Serve register images as Modbus devices until SIGTERM/SIGINT (`simulate --image`)."""
    try:
        images = [ImageArgument.parse(text) for text in args.image]
        coroutine = run_replay(images, args.host, args.port, serial=args.serial, baudrate=args.baudrate)
        asyncio.run(until_signal(coroutine))
    except ImageError as err:
        return _fail(f"simulate: {err}", ExitCode.INVALID_CONFIG)
    except ValueError as err:
        return _fail(f"simulate: {err}", ExitCode.INVALID_CONFIG)
    except OSError as err:
        return _fail(f"simulate: {err}", ExitCode.FAILED)
    return ExitCode.OK


def add_simulate_options(simulate: argparse.ArgumentParser) -> None:
    """The `simulate` options for serving images and serial lines."""
    simulate.add_argument(
        "--image",
        action="append",
        metavar="FILE[@UNIT]",
        help="serve this register image instead of the simulated devices (repeatable); the unit id is "
        "the one given after @, else the image's own, else 1",
    )
    simulate.add_argument(
        "--serial", metavar="PORT", help="also serve Modbus RTU on this serial port (e.g. a pseudo-terminal)"
    )
    simulate.add_argument("--baudrate", type=int, default=9600, help="RTU baud rate (default 9600)")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `record` and `decode` to the `pv-collector` command line."""
    record = commands.add_parser("record", help="read a configured device into a register image file")
    record.add_argument("--config", required=True, metavar="FILE", help="configuration file (YAML)")
    record.add_argument("--device", required=True, metavar="ID", help="id of the device to record")
    record.add_argument("--out", required=True, metavar="IMAGE", help="register image file to write (JSON)")
    record.add_argument(
        "--range",
        action="append",
        type=parse_range,
        metavar="FUNCTION:START-END",
        help="also read this whole range, e.g. input:0-0x17F or holding:40000+300 (repeatable)",
    )
    record.add_argument(
        "--citation", metavar="TEXT", help="where the recording comes from (kept in the image)"
    )
    record.set_defaults(handler=command_record)

    decode = commands.add_parser(
        "decode", help="print the values the collector decodes from a register image"
    )
    decode.add_argument("--image", required=True, metavar="IMAGE", help="register image file (JSON)")
    decode.add_argument("--profile", metavar="ID", help="profile id or file (default: the image's profile)")
    decode.add_argument(
        "--profile-dir", action="append", type=Path, default=[], metavar="DIR", help="folder of own profiles"
    )
    decode.set_defaults(handler=command_decode)
