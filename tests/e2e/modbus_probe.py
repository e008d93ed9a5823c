"""Read the simulated devices over the Modbus wire, independently of the collector's profiles.

Register facts come from the public specifications, not from the code under test:
- SunSpec: the model chain starts with "SunS" at 40000; in models 101-103 `W` is at offset 14 and
  `W_SF` at 15; in model 123 (immediate controls) `WMaxLimPct` is at offset 5 and `WMaxLimPct_SF` at 23
  (offsets counted from the model's ID register, as in the SunSpec model definitions).
- Eastron SDM630: input register 0x0000 is the phase 1 voltage, a big-endian float32.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pymodbus.client import ModbusTcpClient

SUNSPEC_BASE = 40000
SUNS = (0x5375, 0x6E53)
INVERTER_MODELS = (101, 102, 103)
W_OFFSET, W_SF_OFFSET = 14, 15
CONTROLS_MODEL = 123
WMAXLIMPCT_OFFSET, WMAXLIMPCT_SF_OFFSET = 5, 23
SDM630_VOLTAGE_L1 = 0x0000


def _signed(raw: int) -> int:
    return raw - 0x10000 if raw >= 0x8000 else raw


@dataclass
class ModbusProbe:
    host: str
    port: int
    inverter_unit: int = 1
    meter_unit: int = 2
    _client: ModbusTcpClient | None = None
    _models: dict[int, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _read(self, address: int, count: int, unit: int, *, input_registers: bool = False) -> list[int]:
        with self._lock:
            if self._client is None:
                self._client = ModbusTcpClient(self.host, port=self.port, timeout=2, retries=1)
                if not self._client.connect():
                    self._client = None
                    raise ConnectionError(f"cannot connect to the simulator at {self.host}:{self.port}")
            client = self._client
            read = client.read_input_registers if input_registers else client.read_holding_registers
            response = read(address, count=count, device_id=unit)
        if response.isError():
            raise OSError(f"Modbus read {address}+{count} of unit {unit}: {response}")
        return list(response.registers)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def sunspec_models(self) -> dict[int, int]:
        """Model id -> address of its ID register, by walking the chain of the inverter."""
        if self._models:
            return self._models
        if tuple(self._read(SUNSPEC_BASE, 2, self.inverter_unit)) != SUNS:
            raise AssertionError(f"no SunS marker at {SUNSPEC_BASE}")
        address = SUNSPEC_BASE + 2
        models: dict[int, int] = {}
        for _ in range(64):
            model_id, length = self._read(address, 2, self.inverter_unit)
            if model_id == 0xFFFF:
                break
            models[model_id] = address
            address += 2 + length
        self._models = models
        return models

    def _scaled(self, model_start: int, offset: int, sf_offset: int, *, signed: bool) -> float:
        span = self._read(model_start + offset, 1, self.inverter_unit)[0]
        sf = _signed(self._read(model_start + sf_offset, 1, self.inverter_unit)[0])
        return (_signed(span) if signed else span) * 10.0**sf

    def inverter_ac_power(self) -> float:
        models = self.sunspec_models()
        model = next((m for m in INVERTER_MODELS if m in models), None)
        if model is None:
            raise AssertionError(f"no inverter model among {sorted(models)}")
        return self._scaled(models[model], W_OFFSET, W_SF_OFFSET, signed=True)

    def power_limit_pct(self) -> float:
        models = self.sunspec_models()
        if CONTROLS_MODEL not in models:
            raise AssertionError(f"no model {CONTROLS_MODEL} among {sorted(models)}")
        return self._scaled(models[CONTROLS_MODEL], WMAXLIMPCT_OFFSET, WMAXLIMPCT_SF_OFFSET, signed=False)

    def meter_voltage_l1(self) -> float:
        high, low = self._read(SDM630_VOLTAGE_L1, 2, self.meter_unit, input_registers=True)
        return float(struct.unpack(">f", struct.pack(">HH", high, low))[0])


@dataclass
class Sampler:
    """Samples a register every `interval` s in a thread, so a test can ask "was this value there lately"."""

    read: Callable[[], float]
    interval: float = 0.2
    window: float = 30.0
    samples: deque[tuple[float, float]] = field(default_factory=deque)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                value = self.read()
            except OSError:
                value = None
            now = time.monotonic()
            if value is not None:
                self.samples.append((now, value))
            while self.samples and self.samples[0][0] < now - self.window:
                self.samples.popleft()
            self._stop.wait(self.interval)

    def seen(self, value: float, tolerance: float) -> bool:
        return any(abs(sample - value) <= tolerance for _t, sample in list(self.samples))

    def recent(self) -> list[float]:
        return [sample for _t, sample in list(self.samples)[-10:]]
