"""The collector's own figures: a Prometheus registry (served on /metrics) and the `stats` message.

Everything is counted once, here; the Prometheus endpoint and the MQTT statistics message
(`<base>/<cid>/stats`, contract `stats.schema.json`) are two views of the same numbers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from pv_collector.messages import GatewayStats, StatsMessage

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
CYCLE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SMOOTHING = 0.2  # weight of the newest cycle in the moving average reported as `cycle_seconds`


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """The last successful poll cycle of a device: when it ended (wall clock, s), how long it took (s)
    and how many Modbus requests it needed."""

    at: float
    seconds: float
    requests: int


@dataclass(frozen=True, slots=True)
class BusLoad:
    """What a bus has done since start: seconds spent in requests (waiting for answers included) and
    requests by outcome (`ok`, `timeout`, `exception`, `connection`)."""

    busy_seconds: float
    outcomes: dict[str, int]


class Metrics:
    """Counters, gauges and histograms of one collector, in a registry of its own.

    `clock` is the wall clock the collector runs on (tests move it); it stamps the last cycle of a device.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._clock = clock
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._last_cycle: dict[str, CycleRecord] = {}
        self._bus_busy: dict[str, float] = {}
        self._bus_outcomes: dict[str, Tally[str]] = {}
        self._rejected_by_device: dict[str, Tally[str]] = {}
        self._cycle_seconds: float | None = None
        self._requests_per_cycle: dict[str, int] = {}
        self._errors: Tally[str] = Tally()
        self._messages_published = 0
        self._rejected = 0
        self._queue_length = 0
        self._queue_dropped = 0
        self._quarantined: dict[str, list[str]] = {}
        self._gateway: Tally[str] = Tally()
        self._gateway_clients: dict[str, Callable[[], int]] = {}
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

        registry = self.registry
        self.cycle_histogram = Histogram(
            "pv_collector_cycle_seconds",
            "Processing time of one poll cycle of a device (reads, decoding, publishing)",
            ["device"],
            buckets=CYCLE_BUCKETS,
            registry=registry,
        )
        self.request_histogram = Histogram(
            "pv_collector_modbus_request_seconds",
            "Latency of Modbus requests",
            ["bus", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.requests_gauge = Gauge(
            "pv_collector_requests_per_cycle",
            "Modbus requests one poll cycle of a device takes",
            ["device"],
            registry=registry,
        )
        self.published_counter = Counter(
            "pv_collector_messages_published",
            "MQTT messages handed to the broker",
            ["kind"],
            registry=registry,
        )
        self.errors_counter = Counter("pv_collector_errors", "Errors by kind", ["kind"], registry=registry)
        self.rejected_counter = Counter(
            "pv_collector_rejected_readings",
            "Readings not published because they failed the plausibility check",
            ["device", "reason"],
            registry=registry,
        )
        self.queue_gauge = Gauge(
            "pv_collector_queue_length", "State messages waiting for the broker", registry=registry
        )
        self.dropped_counter = Counter(
            "pv_collector_queue_dropped",
            "Queued state messages dropped (queue full or too old)",
            registry=registry,
        )
        self.availability_gauge = Gauge(
            "pv_collector_device_online", "1 when the device answers, else 0", ["device"], registry=registry
        )
        self.quarantined_gauge = Gauge(
            "pv_collector_quarantined_points",
            "Points whose registers the device refuses (read again on a long interval)",
            ["device"],
            registry=registry,
        )
        self.gateway_requests_counter = Counter(
            "pv_collector_gateway_requests",
            "Requests of Modbus TCP gateway clients by outcome (cached, forwarded, written, refused, failed)",
            ["bus", "outcome"],
            registry=registry,
        )
        self.gateway_clients_gauge = Gauge(
            "pv_collector_gateway_clients",
            "Clients connected to the Modbus TCP gateway",
            ["bus"],
            registry=registry,
        )

    # ------------------------------------------------------------------ recording

    def request(self, bus: str, seconds: float, outcome: str) -> None:
        """One Modbus request of the collector finished (`outcome`: ok, timeout, exception, connection)."""
        self.request_histogram.labels(bus, outcome).observe(seconds)
        self.busy(bus, seconds)
        with self._lock:
            self._bus_outcomes.setdefault(bus, Tally())[outcome] += 1

    def busy(self, bus: str, seconds: float) -> None:
        """`bus` was taken `seconds` by a request that is not the collector's own (a tool of the page:
        `pv_collector.transport.Origin`): its busy time only, no outcome, latency or error."""
        with self._lock:
            self._bus_busy[bus] = self._bus_busy.get(bus, 0.0) + seconds

    def cycle(self, device: str, seconds: float, requests: int) -> None:
        """One poll cycle of `device` took `seconds` and `requests` Modbus requests."""
        self.cycle_histogram.labels(device).observe(seconds)
        self.requests_gauge.labels(device).set(requests)
        with self._lock:
            previous = self._cycle_seconds
            self._cycle_seconds = (
                seconds if previous is None else previous + _SMOOTHING * (seconds - previous)
            )
            self._requests_per_cycle[device] = requests
            self._last_cycle[device] = CycleRecord(self._clock(), seconds, requests)

    def error(self, kind: str, count: int = 1) -> None:
        """Count an error (`timeout`, `modbus_exception`, `connection`, `decode`, `publish`, ...)."""
        self.errors_counter.labels(kind).inc(count)
        with self._lock:
            self._errors[kind] += count

    def published(self, kind: str) -> None:
        """Count one MQTT message (`state`, `status`, `config`, `availability`, `event`, `stats`)."""
        self.published_counter.labels(kind).inc()
        with self._lock:
            self._messages_published += 1

    def rejected(self, device: str, reason: str) -> None:
        """Count one implausible reading."""
        self.rejected_counter.labels(device, reason).inc()
        with self._lock:
            self._rejected += 1
            self._rejected_by_device.setdefault(device, Tally())[reason] += 1

    def queue(self, length: int, dropped: int = 0) -> None:
        """Report the queue length, and messages dropped since the last report."""
        self.queue_gauge.set(length)
        if dropped:
            self.dropped_counter.inc(dropped)
        with self._lock:
            self._queue_length = length
            self._queue_dropped += dropped

    def availability(self, device: str, online: bool) -> None:
        """Record whether a device answers."""
        self.availability_gauge.labels(device).set(1 if online else 0)

    def quarantined(self, device: str, keys: list[str]) -> None:
        """The points of `device` currently quarantined (empty: none)."""
        self.quarantined_gauge.labels(device).set(len(keys))
        with self._lock:
            if keys:
                self._quarantined[device] = list(keys)
            else:
                self._quarantined.pop(device, None)

    def gateway_request(self, bus: str, outcome: str) -> None:
        """One gateway request served (`cached`, `forwarded`, `written`, `refused`, `failed`)."""
        self.gateway_requests_counter.labels(bus, outcome).inc()
        with self._lock:
            self._gateway[outcome] += 1

    def gateway_clients(self, bus: str, count: Callable[[], int]) -> None:
        """Report the connected clients of a bus's gateway by calling `count` when scraped."""
        self.gateway_clients_gauge.labels(bus).set_function(count)
        with self._lock:
            self._gateway_clients[bus] = count

    # ------------------------------------------------------------------ views

    @property
    def messages_published(self) -> int:
        """Messages handed to the broker so far."""
        return self._messages_published

    @property
    def errors(self) -> dict[str, int]:
        """Errors by kind so far."""
        with self._lock:
            return dict(self._errors)

    @property
    def queue_length(self) -> int:
        """State messages waiting for the broker (as last reported)."""
        return self._queue_length

    @property
    def queue_dropped(self) -> int:
        """Queued state messages dropped so far (queue full or too old)."""
        return self._queue_dropped

    def last_cycle(self, device: str) -> CycleRecord | None:
        """The last successful poll cycle of `device`, None before its first."""
        with self._lock:
            return self._last_cycle.get(device)

    def bus_load(self, bus: str) -> BusLoad:
        """Seconds spent in requests and requests by outcome on `bus` since start."""
        with self._lock:
            return BusLoad(self._bus_busy.get(bus, 0.0), dict(self._bus_outcomes.get(bus, {})))

    def rejected_by(self, device: str) -> dict[str, int]:
        """Readings of `device` not published, by reason (`out_of_range`, `counter_jump`, ...)."""
        with self._lock:
            return dict(self._rejected_by_device.get(device, {}))

    def stats(self, now: float | None = None) -> StatsMessage:
        """The statistics message (contract `stats.schema.json`)."""
        with self._lock:
            gateway = None
            if self._gateway_clients:
                gateway = GatewayStats(
                    clients=sum(count() for count in self._gateway_clients.values()),
                    cached=self._gateway["cached"],
                    forwarded=self._gateway["forwarded"],
                    written=self._gateway["written"],
                    refused=self._gateway["refused"],
                    failed=self._gateway["failed"],
                )
            return StatsMessage(
                ts=round(time.time() if now is None else now, 3),
                uptime=round(time.monotonic() - self._started, 3),
                requests_per_cycle=sum(self._requests_per_cycle.values()),
                messages_published=self._messages_published,
                errors=dict(self._errors),
                rejected_readings=self._rejected,
                queue_length=self._queue_length,
                queue_dropped=self._queue_dropped,
                cycle_seconds=None if self._cycle_seconds is None else round(self._cycle_seconds, 6),
                quarantined={device: tuple(keys) for device, keys in sorted(self._quarantined.items())},
                gateway=gateway,
            )

    # ------------------------------------------------------------------ HTTP endpoint

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port (0 = a free port) in a daemon thread; return the port."""
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        return int(self._server.server_port)

    def stop(self) -> None:
        """Stop the HTTP endpoint if it runs."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
