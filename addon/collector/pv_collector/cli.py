"""The `pv-collector` command line: run, check, simulate, record, decode, identify (and the add-on's entry
point).

Exit codes: 0 ok, 2 invalid configuration (one line per problem on stderr, no traceback), 1 runtime
failure (one error line). A reader that closes the output early (`check | head`) ends the command quietly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TextIO

from pv_collector import __version__, identify_command, image_commands
from pv_collector.config import Config, load_config
from pv_collector.errors import CollectorError, ConfigError, ProfileError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

_LOGGER = logging.getLogger("pv_collector")

# LogRecord attributes that are not `extra=` fields.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)


def extra_fields(record: logging.LogRecord) -> list[tuple[str, object]]:
    """The `extra=` fields of a log record (`device`, `bus`, `error`, ...), in the order given."""
    return [(key, value) for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES]


class KeyValueFormatter(logging.Formatter):
    """`ts=... level=info logger=pv_collector.poller msg="device lost" device=meter error="..."`."""

    def format(self, record: logging.LogRecord) -> str:
        fields: list[tuple[str, object]] = [
            (
                "ts",
                time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
                + f".{int(record.msecs):03d}",
            ),
            ("level", record.levelname.lower()),
            ("logger", record.name),
            ("msg", record.getMessage()),
        ]
        fields.extend(extra_fields(record))
        line = " ".join(f"{key}={_quote(value)}" for key, value in fields)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _quote(value: object) -> str:
    text = str(value)
    if not text or any(char in text for char in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Structured key=value logs on stderr; pymodbus' own per-request noise only at debug level."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if level == "debug" else logging.CRITICAL)


def _print_errors(error: ConfigError) -> None:
    for line in error.messages:
        print(line, file=sys.stderr)


def _load(path: str) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as err:
        _print_errors(err)
        return None


# ---------------------------------------------------------------------------------------------- commands


def command_check(args: argparse.Namespace) -> int:
    """Validate the configuration and profiles; print each device's read plan."""
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    from pv_collector.identify import connection_hints  # noqa: PLC0415
    from pv_collector.planner import plan_reads, requests_per_cycle  # noqa: PLC0415
    from pv_collector.profile import load_profile  # noqa: PLC0415
    from pv_collector.sunspec import BASE_ADDRESSES  # noqa: PLC0415

    out = sys.stdout
    print(f"configuration {args.config}: ok (collector {config.collector.id})", file=out)
    total = 0.0
    for bus in config.buses:
        print(f"bus {bus.name} ({bus.type} {bus.endpoint})", file=out)
        for device in bus.devices:
            try:
                profile = load_profile(device.profile, config.profile_dirs)
            except ProfileError as err:  # validated already; only a file changed meanwhile lands here
                print(f"  device {device.id}: {err}", file=sys.stderr)
                return EXIT_CONFIG
            every = f"every {device.poll_interval:g} s"
            print(f"  device {device.id} (unit {device.unit_id}, profile {profile.id}, {every})", file=out)
            if profile.sunspec_base is not None:
                models = ", ".join(str(model) for model in profile.sunspec_models) or "all known"
                bases = ", ".join(str(b) for b in dict.fromkeys([profile.sunspec_base, *BASE_ADDRESSES]))
                print(f"    SunSpec: looks for 'SunS' at {bases}; uses models {models}", file=out)
                print("    the read plan follows the models the device reports", file=out)
                continue
            max_gap = bus.max_gap if bus.max_gap is not None else profile.max_gap
            plan = plan_reads(
                [p for p in profile.points if p.info is None],
                max_block=profile.max_block,
                max_gap=max_gap,
                all_points=profile.points,
                single_registers=profile.single_registers,
            )
            requests = requests_per_cycle(plan)
            total += requests / device.poll_interval
            for block in plan:
                keys = ", ".join(point.key for point in block.points)
                where = f"{block.function.value:7} {block.address:5} +{block.count:<3}"
                if not profile.register_base.is_wire:
                    first = profile.register_base.document_number(block.function, block.address)
                    where += f" (doc {first}-{first + block.count - 1})"
                print(f"    {where} {keys}", file=out)
            computed = [point.key for point in profile.points if point.computed]
            if computed:
                print(f"    computed from the reads above: {', '.join(computed)}", file=out)
            print(f"    {len(profile.points)} points, {requests} requests per cycle", file=out)
            for hint in connection_hints(profile, bus, device):
                print(f"    hint: {hint}", file=out)
    print(f"static profiles: {total:.2f} requests per second in total", file=out)
    return EXIT_OK


async def _until_signal(main: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise


def command_run(args: argparse.Namespace) -> int:
    """Run the collector until SIGTERM/SIGINT."""
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    configure_logging(config.log_level)
    from pv_collector.app import Collector  # noqa: PLC0415

    try:
        asyncio.run(_until_signal(Collector(config).run()))
    except CollectorError as err:
        _LOGGER.error("collector stopped", extra={"error": str(err)})
        return EXIT_FAILED
    return EXIT_OK


def command_simulate(args: argparse.Namespace) -> int:
    """Serve the simulated devices (or register images) over Modbus until SIGTERM/SIGINT."""
    configure_logging(args.log_level)
    if args.image:
        return image_commands.command_replay(args, _until_signal)
    from pv_collector.simulator import run_simulator  # noqa: PLC0415

    try:
        asyncio.run(
            _until_signal(
                run_simulator(
                    args.host,
                    args.port,
                    latitude=args.latitude,
                    longitude=args.longitude,
                    seed=args.seed,
                    inverter_sleeps=args.inverter_sleeps,
                    serial=args.serial,
                    baudrate=args.baudrate,
                )
            )
        )
    except (OSError, ValueError) as err:
        print(f"simulate: {err}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def command_addon(args: argparse.Namespace) -> int:
    """The Home Assistant add-on's start-up (options from the Supervisor)."""
    from pv_collector import addon  # noqa: PLC0415

    return int(addon.main(args.rest))


# ---------------------------------------------------------------------------------------------- parsing


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `pv-collector`."""
    parser = argparse.ArgumentParser(
        prog="pv-collector", description="PV Monitor collector: Modbus devices to MQTT."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="poll the configured devices and publish them over MQTT")
    run.add_argument("--config", required=True, metavar="FILE", help="configuration file (YAML)")
    run.set_defaults(handler=command_run)

    check = commands.add_parser("check", help="validate the configuration and print the read plans")
    check.add_argument("--config", required=True, metavar="FILE", help="configuration file (YAML)")
    check.set_defaults(handler=command_check)

    simulate = commands.add_parser(
        "simulate", help="serve simulated PV devices (or register images) over Modbus TCP and RTU"
    )
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    simulate.add_argument("--port", type=int, default=5020, help="TCP port (default 5020)")
    simulate.add_argument("--latitude", type=float, default=52.52, help="site latitude (default Berlin)")
    simulate.add_argument("--longitude", type=float, default=13.405, help="site longitude")
    simulate.add_argument("--seed", type=int, default=1, help="seed of clouds and loads")
    simulate.add_argument(
        "--inverter-sleeps",
        action="store_true",
        help="the inverter stops answering while the sun is down, as many real ones do",
    )
    simulate.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    image_commands.add_simulate_options(simulate)
    simulate.set_defaults(handler=command_simulate)
    image_commands.add_commands(commands)
    identify_command.add_command(commands)

    addon = commands.add_parser("addon", help="start inside the Home Assistant add-on", add_help=False)
    addon.add_argument("rest", nargs=argparse.REMAINDER)
    addon.set_defaults(handler=command_addon)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `pv-collector` and `python -m pv_collector`."""
    args = build_parser().parse_args(argv)
    try:
        result = int(args.handler(args))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`pv-collector check | head`): stop quietly, as other tools do. Standard
        # output now goes nowhere, so the interpreter's last flush cannot fail with a traceback either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return result


if __name__ == "__main__":
    sys.exit(main())
