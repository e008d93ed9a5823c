"""Modbus requests per poll cycle, counted at the server: the collector against Home Assistant core `modbus`.

One simulated PV system (`pv_collector.simulator.Simulation`: unit 1 SunSpec inverter, 2 SDM630, 3 battery,
4 environment sensor) listens on a free 127.0.0.1 port behind a counting Modbus TCP proxy
(bench/mbap_proxy.py). Then, one after the other, for the same points of the same devices:

- the collector (`python -m pv_collector run`, its read planner) polls through the proxy;
- one read per point (a pymodbus client reading every point on its own, as a naive poller does);
- Home Assistant core `modbus` (a real `hass` from bench/.venv-core, built by bench/core_venv.py with the
  pymodbus/tmodbus pins of core's manifest) configured in YAML with one sensor per point.

Requests per cycle for a unit = requests to that unit / reads of its first register (one per cycle).
The SDM630 is configured with its 14 usual points (the profile without its 3 diagnostic points); the
SunSpec inverter with the points the collector discovers (scale factors and nameplate included: core
`modbus` has no scale-factor support, so a user must read them as sensors too).
For profiles without a simulated device the planned counts are printed (`plan`): exact by construction.

    .venv/bin/python bench/poll_requests.py [--seconds 20] [--skip-core] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from common import ROOT, Report, verdict
from mbap_proxy import MbapProxy, Request

from pv_collector.config import BusConfig
from pv_collector.model import DataType, Function, Point
from pv_collector.planner import plan_reads, points_to_read
from pv_collector.profile import list_profiles, load_profile
from pv_collector.simulator import Simulation
from pv_collector.sunspec import scan
from pv_collector.transport import Bus
from tests.mosquitto import Mosquitto

PROFILES_DIR = ROOT / "addon" / "collector" / "pv_collector" / "profiles"
CYCLE = 2  # seconds, both pollers (core `modbus` lowers its timeout below scan_interval: 1 s would give 0)
SDM630_TARGET = 3
SIMULATED = ("pv_sim_battery", "pv_sim_environment")  # measured on the wire instead

HA_TYPES: dict[DataType, str] = {
    DataType.U16: "uint16",
    DataType.S16: "int16",
    DataType.U32: "uint32",
    DataType.S32: "int32",
    DataType.U64: "uint64",
    DataType.S64: "int64",
    DataType.F32: "float32",
    DataType.F64: "float64",
    DataType.STRING: "string",
    DataType.BITFIELD16: "uint16",
    DataType.BITFIELD32: "uint32",
    DataType.SUNSSF: "int16",
    DataType.ACC32: "uint32",
}


@dataclass(frozen=True)
class Unit:
    """One simulated device and the points both pollers read from it."""

    unit: int
    device_id: str
    profile: str  # shipped id or a path
    label: str
    points: tuple[Point, ...]
    max_block: int
    max_gap: int


def usual_sdm630(folder: Path) -> Path:
    """The SDM630 profile without its diagnostic points: the 14 values people put on a dashboard."""
    data = yaml.safe_load((PROFILES_DIR / "sdm630.yaml").read_text())
    data["id"] = "sdm630_usual"
    data["points"] = [p for p in data["points"] if p.get("category") != "diagnostic"]
    path = folder / "sdm630_usual.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


async def sunspec_points(port: int) -> tuple[Point, ...]:
    """The points the collector finds on the simulated inverter (SunSpec scan over Modbus TCP)."""
    bus = Bus(BusConfig(name="scan", type="tcp", host="127.0.0.1", port=port))
    try:
        return (await scan(bus.reader(1), load_profile("sunspec"))).points
    finally:
        await bus.close()


async def units(port: int, folder: Path) -> list[Unit]:
    usual = usual_sdm630(folder)
    found: list[Unit] = []
    sunspec = load_profile("sunspec")
    found.append(
        Unit(
            1,
            "inverter",
            "sunspec",
            "sunspec (simulated inverter)",
            tuple(points_to_read(await sunspec_points(port))),
            sunspec.max_block,
            sunspec.max_gap,
        )
    )
    for unit, device_id, profile_ref, label in (
        (2, "meter", str(usual), "sdm630, 14 usual points"),
        (3, "battery", "pv_sim_battery", "pv_sim_battery"),
        (4, "environment", "pv_sim_environment", "pv_sim_environment"),
    ):
        profile = load_profile(profile_ref)
        found.append(
            Unit(
                unit,
                device_id,
                profile_ref,
                label,
                tuple(points_to_read(profile.points)),
                profile.max_block,
                profile.max_gap,
            )
        )
    return found


def per_cycle(requests: list[Request], unit: int) -> tuple[float, int]:
    """(requests per cycle, cycles) of one unit: cycles = reads of its lowest (function, address)."""
    mine = [r for r in requests if r.unit == unit and r.function in (3, 4) and r.address is not None]
    if not mine:
        return 0.0, 0
    first = min((r.function, r.address) for r in mine)
    cycles = sum(1 for r in mine if (r.function, r.address) == first)
    return len(mine) / cycles, cycles


async def measure(proxy: MbapProxy, all_units: list[Unit], seconds: float, started: float) -> list[Request]:
    """Wait until every unit was read, then for one more cycle; return what `seconds` more bring."""
    deadline = started + 180
    while {r.unit for r in proxy.requests} < {u.unit for u in all_units}:
        if time.monotonic() > deadline:
            seen = sorted({r.unit for r in proxy.requests})
            raise RuntimeError(f"only units {seen} were read within 180 s")
        await asyncio.sleep(0.1)
    await asyncio.sleep(CYCLE + 0.5)
    proxy.clear()
    await asyncio.sleep(seconds)
    return list(proxy.requests)


# ---------------------------------------------------------------------------------------------- pollers


async def run_collector(
    proxy: MbapProxy, port: int, all_units: list[Unit], seconds: float, folder: Path
) -> list[Request]:
    broker = Mosquitto(folder / "mosquitto")
    broker.start()
    config = {
        "collector": {"id": "bench"},
        "data_dir": str(folder / "data"),
        "log_level": "warning",
        "metrics": {"enabled": False},
        "mqtt": {"port": broker.port},
        "buses": [
            {
                "name": "sim",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": port,
                "timeout": 1.0,
                "devices": [
                    {"id": u.device_id, "unit_id": u.unit, "profile": u.profile, "poll_interval": CYCLE}
                    for u in all_units
                ],
            }
        ],
    }
    path = folder / "collector.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "pv_collector", "run", "--config", str(path)]
    process = subprocess.Popen(command)  # noqa: ASYNC220 - runs beside the loop until terminated
    try:
        proxy.clear()
        return await measure(proxy, all_units, seconds, time.monotonic())
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)
        broker.stop()


async def run_one_per_point(
    proxy: MbapProxy, port: int, all_units: list[Unit], seconds: float
) -> list[Request]:
    """A naive poller: every CYCLE seconds one read per point, over one pymodbus connection."""
    from pymodbus.client import AsyncModbusTcpClient

    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1)
    await client.connect()

    async def poll() -> None:
        while True:
            begun = time.monotonic()
            for unit in all_units:
                for point in unit.points:
                    read = (
                        client.read_input_registers
                        if point.function is Function.INPUT
                        else client.read_holding_registers
                    )
                    with contextlib.suppress(Exception):
                        await read(point.address, count=point.words, device_id=unit.unit)
            await asyncio.sleep(max(0.0, CYCLE - (time.monotonic() - begun)))

    task = asyncio.create_task(poll())
    try:
        proxy.clear()
        return await measure(proxy, all_units, seconds, time.monotonic())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        client.close()


def core_yaml(port: int, all_units: list[Unit]) -> dict[str, Any]:
    """configuration.yaml of a Home Assistant with core `modbus` reading every point as a sensor."""
    sensors: list[dict[str, Any]] = []
    for unit in all_units:
        for point in unit.points:
            sensor: dict[str, Any] = {
                "name": f"{unit.device_id} {point.key}",
                "unique_id": f"{unit.device_id}_{point.key}",
                "device_address": unit.unit,
                "address": point.address,
                "input_type": "input" if point.function is Function.INPUT else "holding",
                "data_type": HA_TYPES[point.type],
                "scan_interval": CYCLE,
            }
            if point.type is DataType.STRING:
                sensor["count"] = point.words
            swap = {("little", "big"): "word", ("big", "little"): "byte", ("little", "little"): "word_byte"}
            key = (point.word_order if point.words > 1 else "big", point.byte_order)
            if key in swap:
                sensor["swap"] = swap[key]
            sensors.append(sensor)
    return {
        "homeassistant": {
            "name": "bench",
            "latitude": 52.52,
            "longitude": 13.405,
            "elevation": 0,
            "unit_system": "metric",
            "time_zone": "UTC",
            "country": "DE",
            "currency": "EUR",
        },
        "logger": {"default": "warning", "logs": {"homeassistant.components.modbus": "warning"}},
        "modbus": [
            {
                "name": "sim",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": port,
                "timeout": 1,
                "sensors": sensors,
            }
        ],
    }


async def run_core(
    proxy: MbapProxy, port: int, all_units: list[Unit], seconds: float, *, folder: Path, report: Report
) -> list[Request] | None:
    try:
        from core_venv import build

        python = await asyncio.to_thread(build, False)
    except (subprocess.CalledProcessError, OSError) as err:
        report.note(
            f"bench/.venv-core could not be built ({err}): core `modbus` not measured; build it with "
            "`.venv/bin/python bench/core_venv.py` (needs PyPI or a wheel cache) and run again"
        )
        return None
    config_dir = folder / "hass"
    config_dir.mkdir()
    (config_dir / "configuration.yaml").write_text(
        yaml.safe_dump(core_yaml(port, all_units), sort_keys=False)
    )
    log = (folder / "hass.log").open("w")
    hass = shutil.which("hass", path=str(python.parent)) or str(python.parent / "hass")
    process = subprocess.Popen(  # noqa: ASYNC220 - runs beside the loop until terminated
        [hass, "-c", str(config_dir), "--skip-pip"],
        stdout=log,
        stderr=log,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        proxy.clear()
        return await measure(proxy, all_units, seconds, time.monotonic())
    except RuntimeError as err:
        tail = (folder / "hass.log").read_text(errors="replace")[-1500:]
        report.note(f"core `modbus` did not poll: {err}; hass log tail: {tail}")
        return None
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)
        log.close()


# ---------------------------------------------------------------------------------------------- main


def planned(unit: Unit) -> int:
    """Requests the planner plans for the unit (before the device refuses any block)."""
    return len(plan_reads(unit.points, max_block=unit.max_block, max_gap=unit.max_gap))


def planned_rows() -> list[list[Any]]:
    """Profiles without a simulated device: planner vs one read per point, from the plan."""
    rows: list[list[Any]] = []
    for profile_id in list_profiles():
        profile = load_profile(profile_id)
        if profile.sunspec_base is not None or profile_id in SIMULATED:
            continue
        readable = points_to_read(profile.points)
        plan = plan_reads(readable, max_block=profile.max_block, max_gap=profile.max_gap)
        rows.append([profile_id, len(readable), len(plan), len(readable), len(readable), "plan"])
    return rows


async def main_async(args: argparse.Namespace) -> Report:
    report = Report("poll_requests")
    simulation = Simulation(seed=1)
    port = await simulation.start("127.0.0.1", 0)
    proxy = MbapProxy(("127.0.0.1", port))
    proxy_port = await proxy.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-requests-") as tmp:
            folder = Path(tmp)
            all_units = await units(port, folder)
            collector = await run_collector(proxy, proxy_port, all_units, args.seconds, folder)
            naive = await run_one_per_point(proxy, proxy_port, all_units, args.seconds)
            core = (
                None
                if args.skip_core
                else await run_core(proxy, proxy_port, all_units, args.seconds, folder=folder, report=report)
            )
    finally:
        await proxy.stop()
        await simulation.stop()

    rows: list[list[Any]] = []
    for unit in all_units:
        c, c_cycles = per_cycle(collector, unit.unit)
        n, _ = per_cycle(naive, unit.unit)
        h, _ = per_cycle(core, unit.unit) if core is not None else (float("nan"), 0)
        rows.append(
            [
                unit.label,
                len(unit.points),
                f"{c:.1f}",
                f"{n:.1f}",
                "n/a" if core is None else f"{h:.1f}",
                f"measured, {c_cycles} cycles; planned {planned(unit)}",
            ]
        )
        short = unit.label.split()[0].split(",")[0]
        ratio = "" if core is None or not c else f"; core/collector {h / c:.1f}x"
        report.figure(
            f"requests.{short}",
            f"{unit.label}: {c:.1f} requests per cycle (one per point {n:.1f}, core modbus "
            f"{'not measured' if core is None else f'{h:.1f}'}){ratio}",
            collector=c,
            one_per_point=n,
            core=None if core is None else h,
            points=len(unit.points),
        )
        if unit.unit == 2:
            report.figure(
                "requests.sdm630_target",
                f"SDM630 14 usual points in {c:.1f} requests per cycle (target <= {SDM630_TARGET}: "
                f"{verdict(0 < c <= SDM630_TARGET)})",
                value=c,
                target=SDM630_TARGET,
            )
    rows.extend(planned_rows())
    print()
    report.table(
        "requests", ["device / profile", "points", "collector", "1 per point", "core modbus", "how"], rows
    )
    bad = Counter((r.unit, r.function) for r in collector if r.function not in (3, 4))
    if bad:
        report.note(f"collector sent other function codes too: {dict(bad)}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window per poller")
    parser.add_argument("--skip-core", action="store_true", help="do not build/run Home Assistant core")
    parser.add_argument("--json", help="write figures and tables to this file")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    report.write(args.json)


if __name__ == "__main__":
    main()
