"""What every simulated device has: a unit id, a register image laid out from its profile, an off switch."""

from __future__ import annotations

from collections.abc import Mapping

from pymodbus.constants import ExcCodes

from pv_collector.model import Function, Value
from pv_collector.simulator.profile_image import ProfileImage, WriteRefused


class SimulatedDevice:
    """One Modbus unit: its profile image (the truth the server answers from) and whether it answers.

    Subclasses update their physical state in `update()`, write it into the image by point key in
    `render()`, and react to a client's writes in `apply()`. A device that integrates lifetime counters
    names them in `counters()` and takes them back in `restore()` (kept between runs: `counter_state`).
    """

    kind = "other"

    def __init__(self, unit_id: int, image: ProfileImage) -> None:
        self.unit_id = unit_id
        self.image = image
        self.offline = False

    def read(self, function: Function, address: int, count: int) -> list[int]:
        """The registers of the range (raises `ModbusExceptionResponse` for registers it does not have)."""
        return self.image.image.read(function, address, count)

    def write(self, address: int, values: list[int], now: float) -> ExcCodes | None:
        """A client's write of holding registers: checked against the profile's writable points (exception
        2 for a register that is not one, 3 for a value outside its range), stored, then applied."""
        try:
            changes = self.image.write(address, values)
        except WriteRefused as refused:
            return ExcCodes(refused.code)
        self.apply(changes, now)
        return None

    def apply(self, changes: dict[str, Value], now: float) -> None:
        """React to written points (decoded values by key); the physical effect shows at the next step."""

    def counters(self) -> dict[str, float]:
        """The lifetime counters the device integrates, by name (none by default)."""
        return {}

    def restore(self, counters: Mapping[str, float]) -> None:
        """Continue from counters an earlier run kept (names it does not know are ignored)."""
