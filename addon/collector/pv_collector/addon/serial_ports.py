"""Whether the RS-485 adapters the configuration names are there, before the collector starts.

A missing adapter is the most common start problem of the add-on (unplugged, renumbered, not passed into
the container): one error line names the bus, the option and the serial ports that are there.
"""

from __future__ import annotations

import os
from pathlib import Path

from pv_collector.config import Config
from pv_collector.errors import SerialPortMissing

# Where Linux puts serial adapters (USB: ttyUSB/ttyACM, Raspberry Pi UART: ttyAMA, on-board: ttyS).
SERIAL_PORT_PATTERNS = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*", "/dev/ttyAMA*", "/dev/ttyS*")


def available_serial_ports() -> list[str]:
    """Serial devices present in the container, for the hint in the error message."""
    found: list[str] = []
    for pattern in SERIAL_PORT_PATTERNS:
        folder, _, name = pattern.rpartition("/")
        try:
            found.extend(sorted(str(path) for path in Path(folder).glob(name)))
        except OSError:
            continue
    return found


def check_serial_ports(config: Config) -> None:
    """Every serial bus names an adapter that exists and can be opened for reading and writing.

    Raises `SerialPortMissing` naming the first bus whose adapter is missing or not accessible. pyserial URLs
    (`socket://`, `rfc2217://`) are not local devices and are not checked.
    """
    for index, bus in enumerate(config.buses):
        device = bus.serial_port
        if bus.type != "serial" or device is None or "://" in device:
            continue
        where = f"bus '{bus.name}' (buses[{index}].serial_port)"
        if not Path(device).exists():
            present = ", ".join(available_serial_ports()) or "none found"
            raise SerialPortMissing(
                f"Serial port {device} of {where} does not exist: plug in the RS-485 adapter and pick its "
                f"port in the options (serial ports present: {present})."
            )
        if not os.access(device, os.R_OK | os.W_OK):
            raise SerialPortMissing(
                f"Serial port {device} of {where} cannot be opened for reading and writing: "
                "permission denied."
            )
