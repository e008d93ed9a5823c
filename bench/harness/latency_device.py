"""The device side of the end-to-end latency measurement: simulator + collector in one process.

The simulated SDM630 (unit 2) serves a total power that changes on every read: each time a read covering
its register is served, the time is recorded (the poll that picks the value up: poll wait excluded) and
the next value is set. Several collector devices read the same meter, so every poll yields a new value and
every value is unique. The physics ticker is off: only this program changes registers.
On SIGTERM it writes `value monotonic_time` lines to the output file.

    python bench/harness/latency_device.py MQTT_PORT OUTPUT_FILE DEVICES
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pymodbus.constants import ExcCodes

from pv_collector.app import Collector
from pv_collector.config import validate_config
from pv_collector.model import Function
from pv_collector.simulator import Simulation
from pv_collector.simulator.devices import SimulatedDevice

POWER = 0x34  # SDM630 total system power, f32 input register
FIRST_VALUE = 1000
POLL = 0.1


def f32(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


class ChangingMeter(Simulation):
    """The simulation with a meter whose power changes after every read of it (see module doc)."""

    def __init__(self) -> None:
        super().__init__(seed=1)
        self.value = FIRST_VALUE
        self.served: list[tuple[int, float]] = []
        self.meter.tables[Function.INPUT].set(POWER, f32(self.value))

    def _start_ticker(self) -> None:
        """No physics: registers change only here."""

    async def _action(  # noqa: PLR0917 - the signature pymodbus calls
        self,
        unit: SimulatedDevice | None,
        unknown_answer: ExcCodes | None,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        result = await super()._action(
            unit, unknown_answer, function_code, start_address, address, count, registers, set_values
        )
        if (
            unit is self.meter
            and function_code == 4
            and address <= POWER < address + count
            and result is None
        ):
            self.served.append((self.value, time.monotonic()))
            self.value += 1
            self.meter.tables[Function.INPUT].set(POWER, f32(self.value))
        return result


def config(mqtt_port: int, modbus_port: int, devices: int, data_dir: str) -> dict[str, Any]:
    return {
        "collector": {"id": "bench"},
        "data_dir": data_dir,
        "log_level": "warning",
        "metrics": {"enabled": False},
        "mqtt": {"port": mqtt_port, "qos": {"state": 0}},
        "buses": [
            {
                "name": f"bus{i}",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": modbus_port,
                "devices": [{"id": f"m{i}", "unit_id": 2, "profile": "sdm630", "poll_interval": POLL}],
            }
            for i in range(devices)
        ],
    }


async def main(mqtt_port: int, output: Path, devices: int) -> None:
    simulation = ChangingMeter()
    port = await simulation.start("127.0.0.1", 0)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    with tempfile.TemporaryDirectory() as data:
        collector = Collector(validate_config(config(mqtt_port, port, devices, data)))
        task = asyncio.create_task(collector.run())
        await stop.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await simulation.stop()
    await asyncio.to_thread(output.write_text, "".join(f"{value} {t}\n" for value, t in simulation.served))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])))
