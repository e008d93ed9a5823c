"""The `pv-collector` command line: run, check, simulate, record, decode, identify (and the add-on's entry
point).

Exit codes: 0 ok, 2 invalid configuration (one line per problem on stderr, no traceback), 1 runtime
failure (one error line). A reader that closes the output early (`check | head`) ends the command quietly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pv_collector import __version__, addon, identify_command, image_commands
from pv_collector.config import Config, load_config
from pv_collector.errors import ConfigError, ExitCode, ProfileError
from pv_collector.identify import connection_hints
from pv_collector.logs import configure_logging
from pv_collector.planner import plan_reads, requests_per_cycle
from pv_collector.profile import load_profile
from pv_collector.runner import run_collector, until_signal
from pv_collector.simulator import run_simulator
from pv_collector.sunspec import BASE_ADDRESSES

_LOGGER = logging.getLogger("pv_collector")


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


def command_check(args: argparse.Namespace) -> ExitCode:
    """Validate the configuration and profiles; print each device's read plan."""
    config = _load(args.config)
    if config is None:
        return ExitCode.INVALID_CONFIG

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
                return ExitCode.INVALID_CONFIG
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
    return ExitCode.OK


def command_run(args: argparse.Namespace) -> ExitCode:
    """Run the collector until SIGTERM/SIGINT."""
    config = _load(args.config)
    if config is None:
        return ExitCode.INVALID_CONFIG
    configure_logging(config.log_level)
    return run_collector(config)


def command_simulate(args: argparse.Namespace) -> ExitCode:
    """Serve the simulated devices (or register images) over Modbus until SIGTERM/SIGINT."""
    if args.image and args.state is not None:  # an image has no counters of its own to keep
        print(
            "simulate: --state keeps the simulated devices' counters; it does not go with --image",
            file=sys.stderr,
        )
        return ExitCode.FAILED
    configure_logging(args.log_level)
    if args.image:
        return image_commands.command_replay(args)
    try:
        asyncio.run(
            until_signal(
                run_simulator(
                    args.host,
                    args.port,
                    latitude=args.latitude,
                    longitude=args.longitude,
                    seed=args.seed,
                    inverter_sleeps=args.inverter_sleeps,
                    serial=args.serial,
                    baudrate=args.baudrate,
                    state_file=args.state,
                )
            )
        )
    except (OSError, ValueError) as err:  # the simulator's own argument checks (latitude, ports)
        print(f"simulate: {err}", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK


def command_addon(args: argparse.Namespace) -> ExitCode:
    """The Home Assistant add-on's start-up (options from the Supervisor)."""
    return addon.main(args.rest)


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
    simulate.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="keep the devices' lifetime energy counters in FILE (JSON) from one run to the next",
    )
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
        return ExitCode.OK
    return result


if __name__ == "__main__":
    sys.exit(main())
