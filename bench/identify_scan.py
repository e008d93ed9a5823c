"""How long `pv-collector identify` takes to scan an RS-485 line: units 1..247 at one speed.

Register images of real and documented devices (tests/fixtures/devices) are served as Modbus RTU units on
a pseudo-terminal line that takes as long as a real one (bench/rtu_relay.py: bytes at 9600 baud, 11 bits
per character, 3.5 characters of silence after each frame), and `identify` scans it the way the command
line does (`scan_serial`, the usual settings, the scan timeout of the line speed). The issue asks for a
full scan of 247 units at one speed within a minute.

    .venv/bin/python bench/identify_scan.py [--units 247] [--baudrate 9600] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from common import ROOT, Report
from rtu_relay import ThrottledLine

from pv_collector.identify import SerialSetting, scan_serial, scan_timeout
from pv_collector.simulator.modbus_server import UnitServer
from pv_collector.simulator.replay import ImageArgument, replayed_units

FIXTURES = ROOT / "tests" / "fixtures" / "devices"
DEVICES = {
    2: "sdm630/eastron_register_table.json",
    5: "sungrow_sh_rt/protocol_register_table.json",
    7: "sunspec/specification_meters.json",
    9: "pv_sim_battery/simulator_june_noon.json",
}
LIMIT = 60.0  # seconds the issue allows for 247 units at one speed


async def measure(units: int, baudrate: int) -> tuple[float, int, dict[int, str | None]]:
    line = ThrottledLine(baudrate)
    line.start()
    served = replayed_units([ImageArgument(FIXTURES / path, unit) for unit, path in DEVICES.items()])
    server = UnitServer(served)
    await server.start_rtu(line.server_port, baudrate=baudrate)
    try:
        started = time.monotonic()
        findings = await scan_serial(
            line.client_port,
            settings=[SerialSetting(baudrate=baudrate)],
            units=range(1, units + 1),
        )
        elapsed = time.monotonic() - started
    finally:
        await server.stop()
        line.stop()
    found = {unit.unit_id: unit.profile_id for finding in findings for unit in finding.units}
    return elapsed, sum(server.requests.values()), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=247, help="scan units 1..N (default 247)")
    parser.add_argument("--baudrate", type=int, default=9600)
    parser.add_argument("--json", help="write figures to this file")
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # the relay's byte-by-byte frames are noisy
    report = Report("identify_scan")
    elapsed, answered, found = asyncio.run(measure(args.units, args.baudrate))
    expected = {unit for unit in DEVICES if unit <= args.units}
    report.figure(
        "identify_scan",
        f"{args.units} units at {args.baudrate} baud in {elapsed:.1f} s "
        f"({len(found)} of {len(expected)} devices found, {answered} requests reached them; scan timeout "
        f"{scan_timeout(args.baudrate):.3f} s per unit); "
        f"within {LIMIT:.0f} s for 247 units: "
        + ("met" if args.units < 247 or elapsed <= LIMIT else "NOT met"),
        seconds=elapsed,
        units=args.units,
        found=len(found),
    )
    if set(found) != expected:
        report.note(f"found {sorted(found)}, expected {sorted(expected)}")
    report.write(args.json)


if __name__ == "__main__":
    main()
