"""The latest raw registers a poller read from its device, for the Modbus TCP gateway to answer from.

Only devices on a bus with a gateway keep one. Registers are stored one by one with the time they were
read (monotonic seconds of the poller's clock), so a gateway request may span several of the poller's
blocks; it is served from here only when every register it asks for is present and young enough.
"""

from __future__ import annotations

from collections.abc import Sequence

from pv_collector.model import Function


class RegisterCache:
    """Raw registers of one device by table and address, each with the time it was read."""

    def __init__(self) -> None:
        self._tables: dict[Function, dict[int, tuple[int, float]]] = {}

    def store(self, function: Function, address: int, registers: Sequence[int], at: float) -> None:
        """Remember `registers` read from `address` at monotonic time `at`."""
        table = self._tables.setdefault(function, {})
        for index, value in enumerate(registers):
            table[address + index] = (value, at)

    def lookup(self, function: Function, address: int, count: int, not_before: float) -> list[int] | None:
        """The registers `address..address+count-1` if all were read at or after `not_before`, else None."""
        table = self._tables.get(function)
        if table is None:
            return None
        values: list[int] = []
        for register in range(address, address + count):
            entry = table.get(register)
            if entry is None or entry[1] < not_before:
                return None
            values.append(entry[0])
        return values

    def forget(self, function: Function, address: int, count: int) -> None:
        """Drop registers (after a write: the next read must come from the device)."""
        table = self._tables.get(function)
        if table is not None:
            for register in range(address, address + count):
                table.pop(register, None)
