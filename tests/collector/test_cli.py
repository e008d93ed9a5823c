"""The `pv-collector` command line: check, run with a bad configuration, simulate."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from pv_collector.cli import main
from pv_collector.errors import ExitCode
from pv_collector.planner import plan_reads
from pv_collector.profile import load_profile
from tests.mosquitto import free_port

ROOT = Path(__file__).resolve().parents[2]

BAD = """\
collector: {id: Home}
mqtt: {port: 99999, password: do-not-print-me}
buses:
  - name: rs485
    type: serial
    serial_port: /dev/ttyUSB0
    devices:
      - {id: meter, unit_id: 300, profile: sdm630}
"""


def test_check_prints_the_read_plan_of_every_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(ROOT / "examples/simulated.yaml")]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "configuration" in out
    assert "ok (collector sim)" in out
    profile = load_profile("sdm630")
    plan = plan_reads(
        [p for p in profile.points if p.info is None], max_block=profile.max_block, max_gap=profile.max_gap
    )
    section = out.split("device grid_meter", 1)[1].split("device battery", 1)[0]
    for block in plan:
        assert f"{block.function.value:7} {block.address:5} +{block.count:<3}" in section
    assert f"{len(plan)} requests per cycle" in section
    assert "SunSpec: looks for 'SunS' at 40000, 50000, 0" in out


async def run_cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pv_collector",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("command", ["run", "check"])
async def test_bad_configuration_exits_2_with_one_line_per_problem(tmp_path: Path, command: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD)
    code, out, err = await run_cli(command, "--config", str(config))
    assert code == ExitCode.INVALID_CONFIG
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("collector.id: 'Home' is not a valid value")
    assert "mqtt.port: 99999 is not a valid value (expected 1..65535)" in lines
    assert "buses[0].devices[0].unit_id: 300 is not a valid value (expected 1..247)" in lines
    assert len(lines) == 3
    assert "Traceback" not in err
    assert "do-not-print-me" not in err


async def test_run_with_a_missing_file(tmp_path: Path) -> None:
    code, _, err = await run_cli("run", "--config", str(tmp_path / "missing.yaml"))
    assert code == ExitCode.INVALID_CONFIG
    assert "missing.yaml: cannot read the configuration" in err
    assert "Traceback" not in err


def test_simulate_refuses_a_state_file_for_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--image", str(tmp_path / "meter.json"), "--state", str(tmp_path / "s.json")])
    assert code == ExitCode.FAILED
    [line] = capsys.readouterr().err.splitlines()
    assert "--state" in line
    assert "--image" in line
    assert not (tmp_path / "s.json").exists()


async def test_simulate_serves_the_devices_until_terminated(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "simulator.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pv_collector",
        "simulate",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--latitude",
        "48.1",
        "--longitude",
        "11.6",
        "--seed",
        "7",
        "--state",
        str(state),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0, reconnect_delay=0)
    try:

        async def connected() -> bool:
            return bool(await client.connect())

        deadline = asyncio.get_running_loop().time() + 15
        while not await connected():
            assert process.returncode is None
            assert asyncio.get_running_loop().time() < deadline, "simulator did not listen"
            await asyncio.sleep(0.05)
        marker = await client.read_holding_registers(40000, count=2, device_id=1)
        assert marker.registers == [0x5375, 0x6E53]  # "SunS"
        meter = await client.read_input_registers(0, count=2, device_id=2)
        assert not meter.isError()
    finally:
        client.close()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10)
    assert process.returncode == 0
    # The lifetime counters, written at the clean stop for the next run.
    assert json.loads(state.read_text())["devices"].keys() == {"inverter", "meter", "battery"}
