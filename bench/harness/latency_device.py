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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pv_collector.app import Collector
from pv_collector.config import validate_config
from pv_collector.model import Function
from pv_collector.simulator import METER_UNIT, Simulation

POWER = "power"  # the SDM630 profile's total system power
FIRST_VALUE = 1000
POLL = 0.1


class ChangingMeter(Simulation):
    """The simulation with a meter whose power changes after every read of it (see module doc)."""

    def __init__(self) -> None:
        super().__init__(seed=1)
        self.value = FIRST_VALUE
        self.served: list[tuple[int, float]] = []
        meter = self.image(METER_UNIT)
        self.power = meter.point(POWER)
        meter.set(POWER, self.value)
        self.server.on_read = self._read

    def _start_ticker(self) -> None:
        """No physics: registers change only here."""

    def _read(self, unit_id: int, function: Function, address: int, count: int) -> None:
        power = self.power
        covered = address <= power.address < address + count
        if unit_id == METER_UNIT and function is power.function and covered:
            self.served.append((self.value, time.monotonic()))
            self.value += 1
            self.image(METER_UNIT).set(POWER, self.value)


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
