"""The collector configuration's model: the frozen dataclasses `validate_config` builds
(docs/configuration.md).

Each dataclass owns the defaults of its options: the readers (`config.schema`) pass only the options given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from pv_collector.model import Parity

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SOLARMAN_PORT = 8899  # the TCP port of Solarman V5 data loggers
LOGGER_SERIAL_MAX = 0xFFFF_FFFF  # a logger's serial number is 4 bytes of every Solarman V5 frame

type BusType = Literal["serial", "tcp", "rtu_over_tcp", "solarman"]
type LogLevel = Literal["debug", "info", "warning", "error"]
BUS_TYPES: tuple[BusType, ...] = get_args(BusType.__value__)
LOG_LEVELS: tuple[LogLevel, ...] = get_args(LogLevel.__value__)


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectorIdentity:
    """Who this collector is on MQTT and in Home Assistant."""

    id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig:
    """The Prometheus endpoint. Port 0 picks a free port."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True, slots=True, kw_only=True)
class WebConfig:
    """The collector's own web page (docs/collector-page.md): status, devices, tools, log.

    Off by default. Bound to `host`:`port`; on an address other than loopback it needs a `token`
    (at least 16 characters, asked for once by the browser) or a `trusted_proxy`: the one peer address
    allowed to connect, which authenticates the user itself (the add-on sets the Supervisor's ingress
    proxy, 172.30.32.2). Port 0 picks a free port.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8099
    token: str | None = field(default=None, repr=False)
    trusted_proxy: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QosConfig:
    """QoS per message kind."""

    state: int = 0
    status: int = 1
    discovery: int = 1
    commands: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class HaDiscoveryConfig:
    """Home Assistant's standard MQTT discovery (docs/mqtt-contract.md), for consumers without the
    integration. Off: whatever an earlier run published is removed."""

    enabled: bool = False
    prefix: str = "homeassistant"


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttConfig:
    """The broker connection."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    client_id: str | None = None
    base_topic: str = "pv_monitor"
    keepalive: int = 30
    qos: QosConfig = field(default_factory=QosConfig)
    ha_discovery: HaDiscoveryConfig = field(default_factory=HaDiscoveryConfig)

    @property
    def use_tls(self) -> bool:
        """TLS is on when asked for or when a CA file is given."""
        return self.tls or self.ca_file is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishConfig:
    """How often and how much is published."""

    on_change: bool = False
    max_interval: float = 300.0
    stats_interval: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    """Bounds of the persisted outbound queue."""

    max_messages: int = 100_000
    max_age: float = 604_800.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteConfig:
    """Where the installation is: the collector computes the sun's elevation from it (sleeping inverters)."""

    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceConfig:
    """One Modbus device on a bus."""

    id: str
    name: str
    unit_id: int
    profile: str
    poll_interval: float = 5.0
    deadband: Mapping[str, float] = field(default_factory=dict)
    sleeps_at_night: bool | None = None  # None: as the profile says
    asleep_poll_interval: float = 300.0  # seconds between probes while asleep
    power_limit_revert: int | None = None  # seconds written as the limit's revert timeout; None: untouched
    offline_after: int = 3  # poll cycles in a row that read nothing before the device is reported offline


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """The Modbus TCP server that shares a bus with other clients (evcc, vendor tools).

    `units` maps the unit id a gateway client asks for to a device id of the bus; empty: every device is
    reached under its own unit id.
    """

    host: str = "127.0.0.1"
    port: int = 5020
    max_age: float = 10.0
    allow_writes: bool = False
    units: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class BusConfig:
    """One serial line or TCP connection and the devices reached through it.

    `serial_port` is the adapter of a `serial` bus (`/dev/ttyUSB0`, `/dev/serial/by-id/...` or a pyserial URL
    such as `socket://host:port`); `host` and `port` are where a `tcp`/`rtu_over_tcp`/`solarman` bus connects
    to. `logger_serial` is the serial number of a `solarman` bus's Solarman V5 data logger (in every frame).
    `timeout` is in seconds per request, `quarantine_retry` in seconds.
    """

    name: str
    type: BusType
    serial_port: str | None = None
    host: str | None = None
    port: int = 502
    baudrate: int = 9600
    parity: Parity = "N"
    stopbits: int = 1
    bytesize: int = 8
    timeout: float = 1.0
    retries: int = 2
    logger_serial: int | None = None
    max_gap: int | None = None
    quarantine_retry: float = 3600.0  # seconds before a register the device refused is tried again
    gateway: GatewayConfig | None = None
    devices: tuple[DeviceConfig, ...] = ()

    @property
    def rtu_framing(self) -> bool:
        """True when requests carry RTU frames with no transaction id to match replies (a Solarman V5 frame
        carries a sequence number that does, as Modbus TCP's header does)."""
        return self.type in ("serial", "rtu_over_tcp")

    @property
    def endpoint(self) -> str:
        """Where the bus goes, for logs."""
        return str(self.serial_port) if self.type == "serial" else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """The whole collector configuration."""

    collector: CollectorIdentity
    buses: tuple[BusConfig, ...]
    data_dir: Path = Path("data")
    profile_dirs: tuple[Path, ...] = ()
    log_level: LogLevel = "info"
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    site: SiteConfig | None = None
    web: WebConfig = field(default_factory=WebConfig)

    @property
    def devices(self) -> tuple[tuple[BusConfig, DeviceConfig], ...]:
        """Every device with its bus, in configuration order."""
        return tuple((bus, device) for bus in self.buses for device in bus.devices)

    @property
    def client_id(self) -> str:
        """The MQTT client id."""
        return self.mqtt.client_id or f"pv_monitor_{self.collector.id}"
