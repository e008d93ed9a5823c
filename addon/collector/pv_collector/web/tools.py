"""The device tools the page offers beside its read-only views, behind a small interface.

- `record`: read a device into a register image (docs/profiles.md, "Register images") and hand it to the
  browser as a file, as `pv-collector record` does (`pv_collector.recording.record_image`), through the
  device's bus (its lock, timeouts and retries) while the collector keeps polling.
- `identify`: ask a unit id on a bus what it is and propose the configuration to copy, as
  `pv-collector identify` does for one unit (`pv_collector.identify.identify_on_bus`: SunSpec first, then
  every profile's `identify` probes), through the bus (its lock and timeouts; reads only).

Their requests are a tool's (`pv_collector.transport.Origin.TOOL`): they take the bus like every poll, but
what a device refuses or leaves unanswered is the user's finding, never counted among the collector's errors
(its `stats` message, `/metrics`, the page's overview) or the bus's requests by outcome.

Each is a coroutine function, or None when this version of the collector does not have it; the page
then shows the tool as "not available in this version" and its endpoint answers 501 with
`{"error": "not_available", "feature": ...}`. `shipped_tools()` says what this version has.

What an `Identifier` provides: given a bus and a unit id it reads through `bus.reader(unit_id,
origin=Origin.TOOL)` (the bus lock and timeouts apply; reads only) and returns an `Identification`: the
proposed `devices:` entry of the configuration (`id`, `name`, `unit_id`, `profile` and any option the device
needs), the same as YAML text to copy, and what it found (`vendor`, `model`, `serial`, `firmware`, the
SunSpec models, ... as strings). It raises `ModbusError` when the unit does not answer and `ProfileError`
when no profile fits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pv_collector.identify import identify_on_bus
from pv_collector.recording import record_image
from pv_collector.transport import Origin

if TYPE_CHECKING:
    from pv_collector.poller import DevicePoller
    from pv_collector.transport import Bus


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedImage:
    """A register image ready to download: its file name and its JSON text."""

    filename: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Identification:
    """What `identify` found at one unit id and the configuration it proposes."""

    device: dict[str, Any]
    yaml: str
    found: dict[str, str] = field(default_factory=dict)


type ImageRecorder = Callable[[DevicePoller], Awaitable[RecordedImage]]
type Identifier = Callable[[Bus, int], Awaitable[Identification]]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceTools:
    """The tools of this collector; None: not available in this version."""

    record: ImageRecorder | None = None
    identify: Identifier | None = None

    def features(self) -> dict[str, bool]:
        """Which tools the page can offer."""
        return {"record": self.record is not None, "identify": self.identify is not None}


async def record_device(poller: DevicePoller) -> RecordedImage:
    """A register image of the poller's device, named `<device id>-<UTC time of the recording>.json`.

    Raises what `record_image` raises: `ModbusError` when the device answers no read, `ProfileError` when a
    SunSpec device has no "SunS" marker.
    """
    bus = poller.bus_config
    unit = poller.device.unit_id
    image = await record_image(
        poller.bus.reader(unit, origin=Origin.TOOL),
        poller.profile,
        unit_id=unit,
        extra_dirs=poller.profile_dirs,
        max_gap=bus.max_gap,
        citation=f"recorded with the collector's page from {bus.endpoint}, unit {unit}",
    )
    captured = image.source.captured or ""
    stamp = "".join(char for char in captured[:19] if char.isdigit() or char == "T")
    return RecordedImage(filename=f"{poller.id}-{stamp or 'image'}.json", text=image.to_json())


def identify_tool(profile_dirs: Sequence[Path] = ()) -> Identifier:
    """`identify` for the page: the shipped profiles and those in `profile_dirs` are tried.

    The tool raises what `identify_on_bus` raises: `ModbusError` when the unit does not answer,
    `ProfileError` when it answers but no profile fits.
    """

    async def identify(bus: Bus, unit_id: int) -> Identification:
        report = await identify_on_bus(bus, unit_id, profile_dirs=profile_dirs)
        return Identification(device=dict(report.device), yaml=report.yaml, found=dict(report.found))

    return identify


def shipped_tools(profile_dirs: Sequence[Path] = ()) -> DeviceTools:
    """The tools this version of the collector has (`profile_dirs`: the user's profile folders)."""
    return DeviceTools(record=record_device, identify=identify_tool(profile_dirs))
