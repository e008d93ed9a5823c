"""A device's availability, as its poller reports it: `online` while cycles read something, `offline`
after `offline_after` cycles in a row read nothing (logged once when lost and once when back), and when to
try it again: every poll interval until it is offline, then with backoff (a single probe at growing
intervals, up to `BACKOFF_MAX` seconds).

Sleeping inverters: a device that sleeps at night (profile flag or device option) and stops answering while
the sun is below the horizon at the configured site is `asleep`, not `offline`: no warning is logged and it
is probed every `asleep_poll_interval` seconds (its poller publishes its power points as 0 and its energy
counters at their last value, pv_collector.device_states). When it answers again it is `online`.
"""

from __future__ import annotations

import logging

from pv_collector.config import DeviceConfig, SiteConfig
from pv_collector.device_states import DeviceSink
from pv_collector.errors import ModbusExceptionResponse
from pv_collector.metrics import Metrics
from pv_collector.solar import sun_elevation

_LOGGER = logging.getLogger(__name__)

BACKOFF_MAX = 60.0  # seconds between probes of a device that is away (at least its poll interval)
NIGHT_ELEVATION = 0.0  # degrees: a sleeping device that stops answering with the sun below this is asleep
AWAKE_ELEVATION = 10.0  # degrees: a device still silent with the sun above this is offline, not asleep


class AvailabilityTracker:
    """`unknown`, `online`, `offline` or `asleep` of one device, and its failed cycles in a row."""

    def __init__(
        self,
        device: DeviceConfig,
        *,
        bus_name: str,
        sink: DeviceSink,
        metrics: Metrics,
        site: SiteConfig | None,
    ) -> None:
        self.device = device
        self.bus_name = bus_name
        self.sink = sink
        self.metrics = metrics
        self.site = site
        self.state = "unknown"
        self.failures = 0  # cycles in a row that read nothing
        self._answered_failure = False  # the last failure was an exception response, not silence

    def sun_elevation(self, ts: float) -> float | None:
        """Sun elevation at the site at `ts` (Unix seconds), None without a configured site."""
        if self.site is None:
            return None
        return sun_elevation(ts, self.site.latitude, self.site.longitude)

    def failed(self, err: Exception, ts: float, *, sleeps_at_night: bool) -> bool:
        """A cycle read nothing at `ts`: asleep at night (True: the caller publishes what it infers),
        offline after `offline_after` such cycles in a row."""
        if sleeps_at_night and self._dark(ts):
            self._fall_asleep()
            return True
        self.failures += 1
        self._answered_failure = isinstance(err, ModbusExceptionResponse)
        device_id = self.device.id
        if self.state != "offline" and self.failures < self.device.offline_after:
            _LOGGER.debug(
                "poll cycle read nothing",
                extra={"device": device_id, "failures": self.failures, "error": str(err)},
            )
            return False
        self.metrics.availability(device_id, False)
        if self.state != "offline":
            self.state = "offline"
            _LOGGER.warning(
                "device lost", extra={"device": device_id, "bus": self.bus_name, "error": str(err)}
            )
            self.sink.availability(device_id, "offline", err)
        return False

    def unusable(self, err: Exception) -> None:
        """The device answers, but not as its profile expects (a failed SunSpec discovery): offline,
        logged once."""
        self.failures += 1
        if self.failures == 1:
            _LOGGER.error("SunSpec discovery failed", extra={"device": self.device.id, "error": str(err)})
        self.sink.availability(self.device.id, "offline", err)
        self.state = "offline"

    def back(self) -> None:
        """A cycle read something."""
        device_id = self.device.id
        self.metrics.availability(device_id, True)
        if self.state != "online":
            if self.state == "offline":
                _LOGGER.info("device back", extra={"device": device_id, "after_failures": self.failures})
            elif self.state == "asleep":
                _LOGGER.info("device awake", extra={"device": device_id})
            self.state = "online"
            self.sink.availability(device_id, "online")
        self.failures = 0

    def retry_delay(self, interval: float) -> float:
        """Seconds until the next attempt after a failure: rare while asleep, else the backoff."""
        if self.state == "asleep":
            return self.device.asleep_poll_interval
        if self._answered_failure or self.state != "offline":  # answers, or not offline yet
            return interval
        return float(min(interval * 2 ** max(self.failures - 1, 0), max(BACKOFF_MAX, interval)))

    def _dark(self, ts: float) -> bool:
        """Whether the sun is down at the site at `ts` (for a device already asleep: not up high enough)."""
        elevation = self.sun_elevation(ts)
        if elevation is None:
            return False
        limit = AWAKE_ELEVATION if self.state == "asleep" else NIGHT_ELEVATION
        return elevation < limit

    def _fall_asleep(self) -> None:
        self.failures += 1
        self.metrics.availability(self.device.id, False)
        if self.state != "asleep":
            _LOGGER.info(
                "device asleep: no answer with the sun down",
                extra={"device": self.device.id, "next_probe_s": self.device.asleep_poll_interval},
            )
            self.state = "asleep"
            self.sink.availability(self.device.id, "asleep")
