"""Text registers (issue 15, section 3): a device's serial number as real devices fill it, through the Modbus
wire into the announcement (the device registry of Home Assistant shows it).

A Sungrow SH-RT's serial is 10 registers (20 bytes) at input register 4989. Devices pad with NUL, 0xFF or
spaces and leave garbage after the terminating NUL; the issue's input was
`12345678\\0\\0\\xff\\xfe\\x01\\x02`, announced as `"12345678\\u0000\\u0000\\ufffd\\ufffd\\u0001\\u0002"`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collector.conftest import Recorder, collector_config, running, schema
from tests.helpers import eventually
from tests.mosquitto import Mosquitto
from tests.reliability.devices import INPUT
from tests.reliability.test_counters import Sungrow

BASE = "pv_monitor/test"
SERIAL_REGISTER = 4989  # sungrow_sh_rt.yaml `serial` (10 registers)


def words(data: bytes) -> list[int]:
    data = data.ljust(20, b"\x00")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, 20, 2)]


@pytest.mark.parametrize(
    ("raw", "announced"),
    [
        (b"12345678\x00\x00\xff\xfe\x01\x02", "12345678"),  # the device
        (b"A2107123\x01\x02\x7f4", "A21071234"),  # control characters inside: dropped
        (b"  SH10RT-SN \x00garbage", "SH10RT-SN"),  # padding on both sides, garbage after the NUL
        (b"\x00" * 20, None),
        (b"\xff" * 20, None),
        (b" " * 20, None),
    ],
)
async def test_a_serial_number_is_announced_clean_or_not_at_all(
    raw: bytes, announced: str | None, broker: Mosquitto, recorder: Recorder, tmp_path: Path
) -> None:
    inverter = Sungrow(lambda _n: 100.0)
    inverter.image.set(INPUT, SERIAL_REGISTER, words(raw))
    port = await inverter.device.start_tcp()
    try:
        devices = [{"id": "inverter", "name": "Inverter", "unit_id": 1, "profile": "sungrow_sh_rt"}]
        async with running(collector_config(tmp_path / "data", broker.port, port, devices=devices)):
            await eventually(lambda: inverter.device.reads_of(SERIAL_REGISTER) >= 1, what="the serial read")
            await eventually(lambda: len(recorder.on(f"{BASE}/inverter/state")) >= 3, what="three states")
    finally:
        await inverter.device.stop()
    config = recorder.on(f"{BASE}/config")[-1].json()
    schema("announcement").validate(config)
    assert config["devices"][0].get("serial") == announced
