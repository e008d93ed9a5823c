"""The collector configuration: a voluptuous schema, and the frozen dataclasses it produces.

`load_config(path)` reads the CLI's YAML file; `validate_config(data)` validates a dict built elsewhere
(the add-on builds one from its options). Every problem becomes one line of a `ConfigError`, naming the
option path (`buses[0].devices[1].unit_id`) and the bad value; secrets are never echoed.
See docs/configuration.md.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast

import voluptuous as vol

from pv_collector.datadir import data_dir_problem
from pv_collector.errors import ConfigError, ProfileError
from pv_collector.yaml_file import YamlFileError, read_yaml

_LOGGER = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TOPIC_LEVEL_PATTERN = re.compile(r"^[^#+\x00]+$")
SECRET_KEYS = frozenset({"password", "token"})
WEB_TOKEN_MIN_LENGTH = 16
SOLARMAN_PORT = 8899  # the TCP port of Solarman V5 data loggers
LOGGER_SERIAL_MAX = 0xFFFF_FFFF  # a logger's serial number is 4 bytes of every Solarman V5 frame

type BusType = Literal["serial", "tcp", "rtu_over_tcp", "solarman"]
type LogLevel = Literal["debug", "info", "warning", "error"]


# --------------------------------------------------------------------------------------------------
# The model


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
    parity: Literal["N", "E", "O"] = "N"
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


# --------------------------------------------------------------------------------------------------
# Validators: each raises vol.Invalid("expected ...") so the message can name the bad value.


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def validate(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise vol.Invalid(f"expected {low}..{high}")
        return value

    return validate


def _finite(value: Any) -> bool:
    """The one rule for every number of the configuration: a number (not a bool), finite (no .nan/.inf)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _number(low: float, high: float | None = None) -> Callable[[Any], float]:
    expected = f"expected a finite number >= {low:g}" if high is None else f"expected {low:g}..{high:g}"

    def validate(value: Any) -> float:
        if not _finite(value) or value < low or (high is not None and value > high):
            raise vol.Invalid(expected)
        return float(value)

    return validate


def _choice(*options: Any) -> Callable[[Any], Any]:
    shown = " | ".join(str(option) for option in options)

    def validate(value: Any) -> Any:
        if isinstance(value, bool) or value not in options:
            raise vol.Invalid(f"expected one of {shown}")
        return value

    return validate


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid("expected a non-empty text")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _identifier(value: Any) -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise vol.Invalid("expected lower case letters, digits, '_' or '-', starting with a letter or digit")
    return value


def _logger_serial(value: Any) -> int:
    """A Solarman V5 logger's serial number: 4 bytes of every V5 frame; digits in quotes are taken too."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LOGGER_SERIAL_MAX:
        raise vol.Invalid(
            f"expected the serial number of the logger stick, 1..{LOGGER_SERIAL_MAX} (on its label and its "
            "web page; not the inverter's)"
        )
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid("expected true or false")
    return value


def _topic_level(value: Any) -> str:
    if not isinstance(value, str) or not value or not TOPIC_LEVEL_PATTERN.match(value):
        raise vol.Invalid("expected a topic without '+', '#' or NUL")
    if value.startswith("/") or value.endswith("/"):
        raise vol.Invalid("expected a topic without a leading or trailing '/'")
    return value


def _optional_file(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise vol.Invalid("expected a file path")
    return value


def _path_list(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise vol.Invalid("expected a list of folder paths")
    return value


def _deadband(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise vol.Invalid("expected a map of point key to a number >= 0")
    for key, band in value.items():
        if not isinstance(key, str) or not _finite(band) or band < 0:
            raise vol.Invalid("expected a map of point key to a finite number >= 0")
    return {key: float(band) for key, band in value.items()}


def _unit_map(value: Any) -> dict[int, str]:
    if value is None:
        return {}
    expected = "expected a map of client unit id (0..255) to a device id of this bus"
    if not isinstance(value, dict):
        raise vol.Invalid(expected)
    for unit, device in value.items():
        if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit <= 255:
            raise vol.Invalid(expected)
        if not isinstance(device, str) or not ID_PATTERN.match(device):
            raise vol.Invalid(expected)
    return dict(value)


def _web_token(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) < WEB_TOKEN_MIN_LENGTH or value != value.strip():
        raise vol.Invalid(f"expected a text of at least {WEB_TOKEN_MIN_LENGTH} characters without spaces")
    return value


def _ip_address(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise vol.Invalid("expected an IP address") from None


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default(model: type, name: str) -> Any:
    """The default of one field of a config dataclass: the dataclass owns it, the schema reads it."""
    for item in fields(model):
        if item.name == name:
            if item.default is not MISSING:
                return item.default
            if item.default_factory is not MISSING:
                return item.default_factory()
    raise KeyError(f"{model.__name__}.{name} has no default")


class _Section:
    """A nested mapping that may be omitted or null (then every default applies)."""

    def __init__(self, schema: dict[Any, Any]) -> None:
        self.schema = vol.Schema(schema)

    def __call__(self, value: Any) -> Any:
        return self.schema({} if value is None else value)


class _OptionalSection(_Section):
    """A nested mapping that may be omitted or null, meaning the feature is off (validated to None)."""

    def __call__(self, value: Any) -> Any:
        return None if value is None else self.schema(value)


_section = _Section


LOG_LEVELS = ("debug", "info", "warning", "error")

TOP_SCHEMA = vol.Schema(
    {
        vol.Required("collector"): _section({vol.Required("id"): _identifier, vol.Optional("name"): _text}),
        vol.Optional("data_dir", default="./data"): _text,
        vol.Optional("profile_dirs", default=list): _path_list,
        vol.Optional("log_level", default="info"): _choice(*LOG_LEVELS),
        vol.Optional("metrics", default=dict): _section(
            {
                vol.Optional("enabled", default=True): _boolean,
                vol.Optional("host", default="127.0.0.1"): _text,
                vol.Optional("port", default=9464): _integer(0, 65535),
            }
        ),
        vol.Optional("mqtt", default=dict): _section(
            {
                vol.Optional("host", default="127.0.0.1"): _text,
                vol.Optional("port", default=1883): _integer(1, 65535),
                vol.Optional("username", default=None): _optional_text,
                vol.Optional("password", default=None): vol.Any(None, str, msg="expected a text"),
                vol.Optional("tls", default=False): _boolean,
                vol.Optional("ca_file", default=None): _optional_file,
                vol.Optional("client_cert", default=None): _optional_file,
                vol.Optional("client_key", default=None): _optional_file,
                vol.Optional("client_id", default=None): _optional_text,
                vol.Optional("base_topic", default="pv_monitor"): _topic_level,
                vol.Optional("keepalive", default=30): _integer(5, 3600),
                vol.Optional("qos", default=dict): _section(
                    {
                        vol.Optional(kind, default=default): _choice(0, 1, 2)
                        for kind, default in (("state", 0), ("status", 1), ("discovery", 1), ("commands", 1))
                    }
                ),
                vol.Optional("ha_discovery", default=dict): _section(
                    {
                        vol.Optional("enabled", default=False): _boolean,
                        vol.Optional("prefix", default="homeassistant"): _topic_level,
                    }
                ),
            }
        ),
        vol.Optional("publish", default=dict): _section(
            {
                vol.Optional("on_change", default=False): _boolean,
                vol.Optional("max_interval", default=300): _number(1),
                vol.Optional("stats_interval", default=60): _number(0.1),
            }
        ),
        vol.Optional("queue", default=dict): _section(
            {
                vol.Optional("max_messages", default=100_000): _integer(1, 10_000_000),
                vol.Optional("max_age", default=604_800): _number(1),
            }
        ),
        vol.Optional("site", default=None): _OptionalSection(
            {
                vol.Required("latitude"): _number(-90, 90),
                vol.Required("longitude"): _number(-180, 180),
            }
        ),
        vol.Optional("web", default=dict): _section(
            {
                vol.Optional(name, default=_default(WebConfig, name)): validator
                for name, validator in (
                    ("enabled", _boolean),
                    ("host", _text),
                    ("port", _integer(0, 65535)),
                    ("token", _web_token),
                    ("trusted_proxy", _ip_address),
                )
            }
        ),
        vol.Required("buses"): list,
    }
)

_COMMON_BUS = {
    vol.Required("name"): _identifier,
    vol.Required("type"): str,
    vol.Optional("timeout", default=1.0): _number(0.01, 60),
    vol.Optional("retries", default=2): _integer(0, 10),
    vol.Optional("max_gap", default=None): vol.Any(None, _integer(0, 125), msg="expected 0..125"),
    vol.Optional("quarantine_retry", default=3600): _number(0.1, 604_800),
    vol.Optional("gateway", default=None): _OptionalSection(
        {
            vol.Optional("enabled", default=True): _boolean,
            vol.Optional("host", default="127.0.0.1"): _text,
            vol.Optional("port", default=5020): _integer(0, 65535),
            vol.Optional("max_age", default=10): _number(0, 86_400),
            vol.Optional("allow_writes", default=False): _boolean,
            vol.Optional("units", default=dict): _unit_map,
        }
    ),
    vol.Required("devices"): list,
}

BUS_SCHEMAS: dict[str, vol.Schema] = {
    "serial": vol.Schema(
        {
            **_COMMON_BUS,
            vol.Required("serial_port"): _text,
            vol.Optional("baudrate", default=9600): _integer(300, 4_000_000),
            vol.Optional("parity", default="N"): _choice("N", "E", "O"),
            vol.Optional("stopbits", default=1): _choice(1, 2),
            vol.Optional("bytesize", default=8): _choice(7, 8),
        }
    ),
    "tcp": vol.Schema(
        {**_COMMON_BUS, vol.Required("host"): _text, vol.Optional("port", default=502): _integer(1, 65535)}
    ),
}
BUS_SCHEMAS["rtu_over_tcp"] = BUS_SCHEMAS["tcp"]
BUS_SCHEMAS["solarman"] = vol.Schema(
    {
        **_COMMON_BUS,
        vol.Required("host"): _text,
        vol.Optional("port", default=SOLARMAN_PORT): _integer(1, 65535),
        vol.Required("logger_serial"): _logger_serial,
    }
)


def _device_schema(bus_type: str) -> vol.Schema:
    # Modbus TCP devices commonly use 0 or 255 as their unit id; on RTU lines only 1..247 are addresses.
    unit_range = (0, 255) if bus_type == "tcp" else (1, 247)
    return vol.Schema(
        {
            vol.Required("id"): _identifier,
            vol.Optional("name"): _text,
            vol.Required("unit_id"): _integer(*unit_range),
            vol.Required("profile"): _text,
            vol.Optional("poll_interval", default=5.0): _number(0.1, 86_400),
            vol.Optional("deadband", default=dict): _deadband,
            vol.Optional("sleeps_at_night", default=None): vol.Any(
                None, _boolean, msg="expected true or false"
            ),
            vol.Optional("asleep_poll_interval", default=300): _number(0.1, 86_400),
            vol.Optional("power_limit_revert", default=None): vol.Any(
                None, _integer(1, 65534), msg="expected 1..65534 (seconds) or null"
            ),
            vol.Optional("offline_after", default=_default(DeviceConfig, "offline_after")): _integer(1, 1000),
        }
    )


# --------------------------------------------------------------------------------------------------
# Error reporting


def _format_path(path: list[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _lookup(data: Any, path: list[Any]) -> tuple[bool, Any]:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, data


def _show(value: Any, key: Any) -> str:
    if key in SECRET_KEYS:
        return "(secret)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return repr(value)


class _Problems:
    """Collects one line per problem."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, path: list[Any], message: str) -> None:
        self.lines.append(f"{_format_path(path)}: {message}")

    def validate(self, schema: vol.Schema, data: Any, path: list[Any]) -> Any | None:
        """Validate `data` (found at `path`); record every error and return None when invalid."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.add(path, f"{_show(data, None)} is not a valid value (expected a map of options)")
            return None
        try:
            return schema(data)
        except vol.MultipleInvalid as exc:
            for error in exc.errors:
                self._explain(schema, data, path, error)
            return None

    def _explain(self, schema: vol.Schema, data: Any, path: list[Any], error: vol.Invalid) -> None:
        full = path + list(error.path)
        key = error.path[-1] if error.path else None
        if error.error_message == "extra keys not allowed":
            self.add(full, "unknown option" + _suggestion(schema, data, error.path))
        elif isinstance(error, vol.RequiredFieldInvalid):
            self.add(full, "required option is missing")
        else:
            found, value = _lookup(data, list(error.path))
            shown = _show(value, key) if found else "(missing)"
            self.add(full, f"{shown} is not a valid value ({error.error_message})")


def _suggestion(schema: vol.Schema, data: Any, error_path: list[Any]) -> str:
    """`(did you mean 'host'?)` for a misspelt key, looked up in the schema level of the error."""
    level: Any = schema.schema
    for part in error_path[:-1]:
        if not isinstance(level, dict):
            return ""
        match = next((value for key, value in level.items() if str(key) == part), None)
        level = match.schema.schema if isinstance(match, _Section) else None
    if not isinstance(level, dict):
        return ""
    known = [str(key) for key in level]
    close = difflib.get_close_matches(str(error_path[-1]), known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --------------------------------------------------------------------------------------------------
# Entry points


def validate_config(data: Any, *, base_dir: Path | None = None, check_profiles: bool = True) -> Config:
    """Validate a configuration mapping; relative paths are taken from `base_dir` (default: cwd).

    Raises `ConfigError` listing every problem, one line each.
    """
    problems = _Problems()
    base = base_dir or Path.cwd()
    top = problems.validate(TOP_SCHEMA, data, [])
    buses: list[BusConfig] = []
    raw_buses = data.get("buses") if isinstance(data, dict) else None
    if isinstance(raw_buses, list):
        if not raw_buses:
            problems.add(["buses"], "at least one bus is required")
        for index, raw_bus in enumerate(raw_buses):
            bus = _validate_bus(problems, raw_bus, ["buses", index], base)
            if bus is not None:
                buses.append(bus)
    elif isinstance(data, dict) and "buses" in data:
        shown = _show(raw_buses, "buses")
        problems.add(["buses"], f"{shown} is not a valid value (expected a list of buses)")

    _check_unique(problems, buses, data)
    _check_gateway_ports(problems, buses)
    if top is not None:
        _check_web(problems, top["web"])
    if check_profiles:
        profile_dirs = tuple((base / item).resolve() for item in top["profile_dirs"]) if top else ()
        _check_profiles(problems, data, profile_dirs, base)
    if top is None or problems.lines:
        raise ConfigError(problems.lines)

    config = _build(top, buses, base)
    _check_files(problems, config)
    if problems.lines:
        raise ConfigError(problems.lines)
    return config


def _profile_ref(ref: str, base: Path) -> str:
    """A profile given as a path is relative to the configuration's folder; ids stay as they are."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref:
        return str((base / Path(ref).expanduser()).resolve())
    return ref


def _validate_bus(problems: _Problems, raw: Any, path: list[Any], base: Path) -> BusConfig | None:
    if not isinstance(raw, dict):
        problems.add(path, f"{_show(raw, None)} is not a valid value (expected a map of options)")
        return None
    bus_type = raw.get("type")
    schema = BUS_SCHEMAS.get(bus_type) if isinstance(bus_type, str) else None
    if schema is None:
        if "type" not in raw:
            problems.add([*path, "type"], "required option is missing")
        else:
            shown = _show(bus_type, "type")
            expected = f"expected {' | '.join(BUS_SCHEMAS)}"
            problems.add([*path, "type"], f"{shown} is not a valid value ({expected})")
        return None
    valid = problems.validate(schema, raw, path)
    devices: list[DeviceConfig] = []
    raw_devices = raw.get("devices")
    if isinstance(raw_devices, list):
        if not raw_devices:
            problems.add([*path, "devices"], "at least one device is required")
        device_schema = _device_schema(str(bus_type))
        for index, raw_device in enumerate(raw_devices):
            device = problems.validate(device_schema, raw_device, [*path, "devices", index])
            if device is not None:
                devices.append(
                    DeviceConfig(
                        id=device["id"],
                        name=device.get("name", device["id"]),
                        unit_id=device["unit_id"],
                        profile=_profile_ref(device["profile"], base),
                        poll_interval=device["poll_interval"],
                        deadband=device["deadband"],
                        sleeps_at_night=device["sleeps_at_night"],
                        asleep_poll_interval=device["asleep_poll_interval"],
                        power_limit_revert=device["power_limit_revert"],
                        offline_after=device["offline_after"],
                    )
                )
    elif "devices" in raw:
        shown = _show(raw_devices, None)
        problems.add([*path, "devices"], f"{shown} is not a valid value (expected a list of devices)")
    if valid is None:
        return None
    gateway = _gateway(problems, valid.get("gateway"), devices, [*path, "gateway"])
    return BusConfig(
        name=valid["name"],
        type=cast("BusType", bus_type),
        serial_port=valid.get("serial_port"),
        host=valid.get("host"),
        port=valid.get("port", 502),
        baudrate=valid.get("baudrate", 9600),
        parity=valid.get("parity", "N"),
        stopbits=valid.get("stopbits", 1),
        bytesize=valid.get("bytesize", 8),
        timeout=valid["timeout"],
        retries=valid["retries"],
        logger_serial=valid.get("logger_serial"),
        max_gap=valid["max_gap"],
        quarantine_retry=valid["quarantine_retry"],
        gateway=gateway,
        devices=tuple(devices),
    )


def _gateway(
    problems: _Problems, raw: dict[str, Any] | None, devices: list[DeviceConfig], path: list[Any]
) -> GatewayConfig | None:
    if raw is None or not raw["enabled"]:
        return None
    known = {device.id for device in devices}
    for unit, device_id in raw["units"].items():
        if device_id not in known:
            shown = ", ".join(sorted(known)) or "none"
            problems.add([*path, "units", unit], f"{device_id!r} is not a device of this bus ({shown})")
    return GatewayConfig(
        host=raw["host"],
        port=raw["port"],
        max_age=raw["max_age"],
        allow_writes=raw["allow_writes"],
        units=dict(raw["units"]),
    )


def _check_unique(problems: _Problems, buses: list[BusConfig], data: Any) -> None:
    raw_buses = data.get("buses") if isinstance(data, dict) else None
    if not isinstance(raw_buses, list):
        return
    seen_devices: dict[str, str] = {}
    seen_buses: dict[str, str] = {}
    for bus_index, raw_bus in enumerate(raw_buses):
        if not isinstance(raw_bus, dict):
            continue
        name = raw_bus.get("name")
        here = _format_path(["buses", bus_index])
        if isinstance(name, str):
            if name in seen_buses:
                other = seen_buses[name]
                problems.add(["buses", bus_index, "name"], f"{name!r} is used by another bus ({other})")
            else:
                seen_buses[name] = here
        raw_devices = raw_bus.get("devices")
        if not isinstance(raw_devices, list):
            continue
        for device_index, raw_device in enumerate(raw_devices):
            if not isinstance(raw_device, dict) or not isinstance(raw_device.get("id"), str):
                continue
            device_id = raw_device["id"]
            where = ["buses", bus_index, "devices", device_index]
            if device_id in seen_devices:
                problems.add(
                    [*where, "id"], f"{device_id!r} is used by another device ({seen_devices[device_id]})"
                )
            else:
                seen_devices[device_id] = _format_path(where)


def _check_gateway_ports(problems: _Problems, buses: list[BusConfig]) -> None:
    seen: dict[tuple[str, int], str] = {}
    for index, bus in enumerate(buses):
        if bus.gateway is None or bus.gateway.port == 0:
            continue
        where = (bus.gateway.host, bus.gateway.port)
        if where in seen:
            problems.add(
                ["buses", index, "gateway", "port"],
                f"{bus.gateway.port} is used by another gateway ({seen[where]})",
            )
        else:
            seen[where] = f"bus {bus.name}"


def _check_web(problems: _Problems, web: dict[str, Any]) -> None:
    """The page is never served to the network without a token or a trusted proxy in front of it."""
    guarded = web["token"] is not None or web["trusted_proxy"] is not None
    if web["enabled"] and not is_loopback(web["host"]) and not guarded:
        problems.add(
            ["web", "token"],
            f"required when web.host ({web['host']}) is not a loopback address: "
            "anyone on the network could open the page otherwise",
        )


def _build(top: dict[str, Any], buses: list[BusConfig], base: Path) -> Config:
    def path(value: str | None) -> Path | None:
        return None if value is None else (base / value).resolve()

    mqtt = top["mqtt"]
    return Config(
        collector=CollectorIdentity(
            id=top["collector"]["id"], name=top["collector"].get("name", top["collector"]["id"])
        ),
        buses=tuple(buses),
        data_dir=(base / top["data_dir"]).resolve(),
        profile_dirs=tuple((base / item).resolve() for item in top["profile_dirs"]),
        log_level=top["log_level"],
        metrics=MetricsConfig(**top["metrics"]),
        mqtt=MqttConfig(
            host=mqtt["host"],
            port=mqtt["port"],
            username=mqtt["username"],
            password=mqtt["password"],
            tls=mqtt["tls"],
            ca_file=path(mqtt["ca_file"]),
            client_cert=path(mqtt["client_cert"]),
            client_key=path(mqtt["client_key"]),
            client_id=mqtt["client_id"],
            base_topic=mqtt["base_topic"],
            keepalive=mqtt["keepalive"],
            qos=QosConfig(**mqtt["qos"]),
            ha_discovery=HaDiscoveryConfig(**mqtt["ha_discovery"]),
        ),
        publish=PublishConfig(**top["publish"]),
        queue=QueueConfig(**top["queue"]),
        site=SiteConfig(**top["site"]) if top["site"] is not None else None,
        web=WebConfig(**top["web"]),
    )


def _check_files(problems: _Problems, config: Config) -> None:
    if (problem := data_dir_problem(config.data_dir)) is not None:
        problems.add(["data_dir"], f"'{config.data_dir}' {problem}")
    for key in ("ca_file", "client_cert", "client_key"):
        value: Path | None = getattr(config.mqtt, key)
        if value is not None and not value.is_file():
            problems.add(["mqtt", key], f"'{value}' is not a readable file")
    if config.mqtt.client_key is not None and config.mqtt.client_cert is None:
        problems.add(["mqtt", "client_key"], "needs mqtt.client_cert as well")
    for index, folder in enumerate(config.profile_dirs):
        if not folder.is_dir():
            problems.add(["profile_dirs", index], f"'{folder}' is not a folder")


def _check_profiles(problems: _Problems, data: Any, profile_dirs: tuple[Path, ...], base: Path) -> None:
    """Every device's profile loads; deadband keys are points of it. Checked on the raw data, so a
    profile problem is reported together with every other problem."""
    from pv_collector.profile import load_profile  # noqa: PLC0415 - profile loading pulls in YAML files

    raw_buses = data.get("buses") if isinstance(data, dict) else None
    for bus_index, raw_bus in enumerate(raw_buses if isinstance(raw_buses, list) else []):
        raw_devices = raw_bus.get("devices") if isinstance(raw_bus, dict) else None
        for device_index, raw_device in enumerate(raw_devices if isinstance(raw_devices, list) else []):
            if not isinstance(raw_device, dict) or not isinstance(raw_device.get("profile"), str):
                continue
            where = ["buses", bus_index, "devices", device_index]
            ref = raw_device["profile"]
            try:
                profile = load_profile(_profile_ref(ref, base), profile_dirs)
            except ProfileError as exc:
                problems.add([*where, "profile"], str(exc) if ref in str(exc) else f"{ref!r}: {exc}")
                continue
            deadband = raw_device.get("deadband")
            if profile.sunspec_base is not None or not isinstance(deadband, dict):
                continue  # SunSpec points are only known after discovery
            keys = {point.key for point in profile.points}
            for key in deadband:
                if key not in keys:
                    problems.add([*where, "deadband", key], f"unknown point of profile {profile.id!r}")


def load_config(path: Path | str, *, check_profiles: bool = True) -> Config:
    """Read and validate a YAML configuration file; relative paths in it are relative to its folder."""
    file = Path(path)
    try:
        data = read_yaml(file, "the configuration")
    except YamlFileError as exc:
        raise ConfigError([str(exc)]) from exc
    if not isinstance(data, dict):
        found = type(data).__name__
        raise ConfigError([f"{file}: expected a map of options at the top level, found {found}"])
    for line in renamed_options(data):
        _LOGGER.warning("%s: %s", file, line)
    return validate_config(data, base_dir=file.parent.resolve(), check_profiles=check_profiles)


def renamed_options(data: dict[str, Any]) -> list[str]:
    """Options written under a name of an earlier version, renamed in `data` (in place); one line per
    rename for the log. Version 0.1 named a serial bus's adapter `port`; it is `serial_port` since 0.2."""
    lines: list[str] = []
    buses = data.get("buses")
    for index, bus in enumerate(buses if isinstance(buses, list) else []):
        if not isinstance(bus, dict) or bus.get("type") != "serial":
            continue
        if isinstance(bus.get("port"), str) and "serial_port" not in bus:
            bus["serial_port"] = bus.pop("port")
            lines.append(
                f"buses[{index}].port: a serial bus names its adapter 'serial_port' since version 0.2; "
                "read as serial_port (rename it in the file)"
            )
    return lines
