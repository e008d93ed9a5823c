"""Register images served as Modbus devices (`pv-collector simulate --image`).

Each image file is one unit. Reads are answered from the image: registers not in it with exception 2,
recorded refusals with their exception code, unanswered ranges with silence. Writes to holding registers
the image has are kept (until the file changes); writes anywhere else get exception 2.

The file is the device's state: it is checked on every request and read again when it has changed
(replace it atomically, as `RegisterImage.save` does), so a test or a person changes a replayed device by
writing the file. A changed file that is not a valid image is logged once and the last good image kept.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pymodbus.constants import ExcCodes

from pv_collector.errors import ImageError
from pv_collector.model import Function
from pv_collector.register_image import RegisterImage, load_image
from pv_collector.simulator.modbus_server import UnitServer

_LOGGER = logging.getLogger(__name__)

DEFAULT_UNIT = 1


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


class ReplayedImage:
    """One unit answering from a register image file, read again whenever the file changes."""

    def __init__(self, path: Path, unit_id: int, image: RegisterImage | None = None) -> None:
        self.path = Path(path)
        self.unit_id = unit_id
        self.offline = False
        self._signature = _signature(self.path)
        self._image = image if image is not None else load_image(self.path)
        self._bad_signature: tuple[int, int, int] | None = None

    @property
    def image(self) -> RegisterImage:
        """The image being served (read again first if the file changed)."""
        signature = _signature(self.path)
        if signature is not None and signature not in (self._signature, self._bad_signature):
            try:
                self._image = load_image(self.path)
            except ImageError as err:
                self._bad_signature = signature
                _LOGGER.error("replayed image not reloaded, still serving the last good one: %s", err)
            else:
                self._signature = signature
                _LOGGER.info("replayed image %s reloaded (unit %d)", self.path, self.unit_id)
        return self._image

    def read(self, function: Function, address: int, count: int) -> list[int]:
        """What the device answers (see `RegisterImage.read`)."""
        return self.image.read(function, address, count)

    def write(self, address: int, values: list[int], now: float) -> ExcCodes | None:
        """Keep a write to holding registers the image has; exception 2 anywhere else."""
        image = self.image
        count = len(values)
        if image.refusal(Function.HOLDING, address, count) or not image.has(Function.HOLDING, address, count):
            return ExcCodes.ILLEGAL_ADDRESS
        image.put(Function.HOLDING, address, values)
        return None


@dataclass(frozen=True, slots=True)
class ImageArgument:
    """An image file to serve and the unit id asked for it (None: the image's own, else 1)."""

    path: Path
    unit_id: int | None = None

    @classmethod
    def parse(cls, text: str) -> ImageArgument:
        """`FILE` or `FILE@UNIT`; ValueError for a unit that is not 0..255."""
        path, separator, unit = text.rpartition("@")
        if not separator or not unit.isdigit():
            return cls(Path(text))
        if not 0 <= int(unit) <= 255:
            raise ValueError(f"{text}: unit id {unit} is outside 0..255")
        return cls(Path(path), int(unit))


def replayed_units(arguments: Sequence[ImageArgument]) -> dict[int, ReplayedImage]:
    """Load every image and give it its unit id. Raises `ImageError` for a bad file and ValueError when
    two images would answer on one unit id."""
    units: dict[int, ReplayedImage] = {}
    for argument in arguments:
        image = load_image(argument.path)
        unit_id = argument.unit_id
        if unit_id is None:
            unit_id = image.identity.unit_id if image.identity.unit_id is not None else DEFAULT_UNIT
        if unit_id in units:
            raise ValueError(
                f"{units[unit_id].path} and {argument.path} would both answer on unit {unit_id}; "
                "give one of them another unit id: --image FILE@UNIT"
            )
        units[unit_id] = ReplayedImage(argument.path, unit_id, image)
    return units


async def run_replay(
    arguments: Sequence[ImageArgument],
    host: str,
    port: int,
    *,
    serial: str | None = None,
    baudrate: int = 9600,
) -> None:
    """Serve the images over Modbus TCP (and RTU on `serial`, if given) until cancelled."""
    units = replayed_units(arguments)
    server = UnitServer(units)
    try:
        if serial is not None:  # first, so that a listening TCP port means both are served
            await server.start_rtu(serial, baudrate=baudrate)
            _LOGGER.info("replaying on serial %s at %d baud", os.fspath(serial), baudrate)
        bound = await server.start(host, port)
        for unit_id, unit in sorted(units.items()):
            _LOGGER.info("replaying %s as unit %d on %s:%d", unit.path, unit_id, host, bound)
        await asyncio.Event().wait()
    finally:
        await server.stop()
