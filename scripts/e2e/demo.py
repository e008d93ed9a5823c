"""`scripts/demo`: the whole PV Monitor system on 127.0.0.1 until Ctrl-C.

Ports are fixed so that bookmarks keep working, and configurable (environment or options):
PV_DEMO_HASS_PORT (8123), PV_DEMO_MQTT_PORT (18830), PV_DEMO_MODBUS_PORT (15020),
PV_DEMO_METRICS_PORT (19464); PV_DEMO_DIR (demo-data/ in the repository) keeps Home Assistant's
configuration, the broker's retained messages and the collector's data between runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from .processes import StackError
from .stack import ROOT, Stack, StackSettings, sigterm_as_keyboard_interrupt


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"demo: {name}={raw!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise SystemExit(f"demo: {name}={value} is not a port number (1..65535)")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("PV_DEMO_DIR", ROOT / "demo-data")),
        help="state directory (default: demo-data/)",
    )
    parser.add_argument("--hass-port", type=int, default=_env_int("PV_DEMO_HASS_PORT", 8123))
    parser.add_argument("--mqtt-port", type=int, default=_env_int("PV_DEMO_MQTT_PORT", 18830))
    parser.add_argument("--modbus-port", type=int, default=_env_int("PV_DEMO_MODBUS_PORT", 15020))
    parser.add_argument("--metrics-port", type=int, default=_env_int("PV_DEMO_METRICS_PORT", 19464))
    parser.add_argument("--web-port", type=int, default=_env_int("PV_DEMO_WEB_PORT", 18099))
    parser.add_argument("--fresh", action="store_true", help="forget the previous demo state first")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = args.dir.resolve()
    if args.fresh and workdir.exists():
        import shutil  # noqa: PLC0415 - only for --fresh

        shutil.rmtree(workdir)
    settings = StackSettings(
        workdir=workdir,
        hass_port=args.hass_port,
        mqtt_port=args.mqtt_port,
        modbus_port=args.modbus_port,
        metrics_port=args.metrics_port,
        web_port=args.web_port,
    )
    sigterm_as_keyboard_interrupt()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started from a script
    started = time.monotonic()
    try:
        stack = Stack(settings)
    except StackError as err:
        print(f"demo: {err}", file=sys.stderr)
        return 1
    print(
        f"demo: starting Mosquitto, the simulated devices, the collector and Home Assistant "
        f"(state in {workdir}, logs in {stack.log_dir}) ...",
        flush=True,
    )
    try:
        stack.start()
    except KeyboardInterrupt:
        print("\ndemo: interrupted, stopped.", file=sys.stderr)
        return 130
    except (StackError, OSError) as err:
        print(f"demo: failed to start: {err}\n\nLogs: {stack.log_dir}", file=sys.stderr)
        return 1
    s = settings
    place = stack.place
    print(
        f"""
PV Monitor demo is running (ready in {time.monotonic() - started:.0f} s).

  Home Assistant   {stack.url}/{stack.dashboard_url_path}/overview
  Place            {place.name} ({place.latitude}, {place.longitude}, {place.time_zone}): the simulated
                   sun, Home Assistant's home and time zone, the collector's site
  Login            user "{s.username}"  password "{s.password}"
  MQTT broker      127.0.0.1:{stack.mqtt_port}  (mosquitto_sub -p {stack.mqtt_port} -t 'pv_monitor/#' -v)
  Modbus devices   127.0.0.1:{stack.modbus_port} (units 1 inverter, 2 meter, 3 battery, 4 weather station)
  Collector page   http://127.0.0.1:{stack.web_port}/
  Metrics          http://127.0.0.1:{stack.metrics_port}/metrics
  Logs             {stack.log_dir}

Press Ctrl-C to stop everything.""",
        flush=True,
    )
    try:
        while True:
            for name, process in stack.processes.items():
                if not process.running:
                    print(
                        f"demo: {name} stopped unexpectedly; log tail:\n{process.log_tail(3000)}",
                        file=sys.stderr,
                    )
                    raise KeyboardInterrupt
            time.sleep(1)
    except KeyboardInterrupt:
        print("\ndemo: stopping ...", flush=True)
    finally:
        stack.stop()
    print("demo: stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
