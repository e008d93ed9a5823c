"""The readers of the collector configuration: one per section, each building its dataclass (`config.model`)
from the options given, so that every default is the dataclass's own. An option set to null is not given.

Paths are read as written; `resolved` makes them absolute, relative to the configuration's folder.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pv_collector.config.model import (
    BUS_TYPES,
    ID_PATTERN,
    LOG_LEVELS,
    LOGGER_SERIAL_MAX,
    SOLARMAN_PORT,
    BusConfig,
    CollectorIdentity,
    Config,
    DeviceConfig,
    GatewayConfig,
    HaDiscoveryConfig,
    MetricsConfig,
    MqttConfig,
    PublishConfig,
    QosConfig,
    QueueConfig,
    SiteConfig,
    WebConfig,
)
from pv_collector.model import PARITIES
from pv_collector.validate import (
    Fields,
    Invalid,
    Problem,
    Reader,
    boolean,
    choice,
    integer,
    is_integer,
    list_of,
    mapping_of,
    matching,
    number,
    record,
    refuse,
    required_fields,
    text,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

TOPIC_LEVEL_PATTERN = re.compile(r"^(?!/)[^#+\x00]+(?<!/)$")
WEB_TOKEN_MIN_LENGTH = 16
# Modbus TCP devices commonly use 0 or 255 as their unit id; on RTU lines only 1..247 are addresses.
TCP_UNIT_IDS = (0, 255)
RTU_UNIT_IDS = (1, 247)

identifier = matching(ID_PATTERN, "lower case letters, digits, '_' or '-', starting with a letter or digit")
tcp_port = integer(1, 65535)
listening_port = integer(0, 65535)  # 0 picks a free port
topic_level = matching(TOPIC_LEVEL_PATTERN, "a topic without '+', '#', NUL or a leading or trailing '/'")


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def path(what: str) -> Reader[Path]:
    """A path as written (`resolved` makes it absolute)."""

    def read(value: Any) -> Path:
        if not isinstance(value, str) or not value:
            raise refuse(value, what)
        return Path(value)

    return read


profile_folders = list_of(path("a folder path"), items="folder paths")


def _password(value: Any) -> str:
    if not isinstance(value, str):
        raise refuse(value, "a text", secret=True)
    return value


def _web_token(value: Any) -> str:
    if not isinstance(value, str) or len(value) < WEB_TOKEN_MIN_LENGTH or value != value.strip():
        expected = f"a text of at least {WEB_TOKEN_MIN_LENGTH} characters without spaces"
        raise refuse(value, expected, secret=True)
    return value


def _ip_address(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise refuse(value, "an IP address") from None


def _logger_serial(value: Any) -> int:
    """A Solarman V5 logger's serial number: 4 bytes of every V5 frame; digits in quotes are taken too."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not is_integer(value) or not 1 <= value <= LOGGER_SERIAL_MAX:
        raise refuse(
            value,
            f"the serial number of the logger stick, 1..{LOGGER_SERIAL_MAX} (on its label and its web page; "
            "not the inverter's)",
        )
    return int(value)


def _named[T: DataclassInstance](model: type[T], readers: dict[str, Reader[Any]]) -> Reader[T]:
    """A section with an `id`, and a `name` that is the id unless given (else as `record`)."""
    read = Fields(readers, required=[name for name in required_fields(model) if name != "name"])

    def build(value: Any) -> T:
        given = read({} if value is None else value)
        return model(**{"name": given["id"], **given})

    return build


# --------------------------------------------------------------------------------------------------
# Sections


def _web(value: Any) -> WebConfig:
    """The page is never served to the network without a token or a trusted proxy in front of it."""
    web = _WEB(value)
    if web.enabled and not is_loopback(web.host) and web.token is None and web.trusted_proxy is None:
        raise Invalid(
            f"required when web.host ({web.host}) is not a loopback address: anyone on the network could "
            "open the page otherwise"
        ).below("token")
    return web


_WEB = record(
    WebConfig,
    {
        "enabled": boolean,
        "host": text(),
        "port": listening_port,
        "token": _web_token,
        "trusted_proxy": _ip_address,
    },
)

_MQTT = record(
    MqttConfig,
    {
        "host": text(),
        "port": tcp_port,
        "username": text(),
        "password": _password,
        "tls": boolean,
        "ca_file": path("a file path"),
        "client_cert": path("a file path"),
        "client_key": path("a file path"),
        "client_id": text(),
        "base_topic": topic_level,
        "keepalive": integer(5, 3600),
        "qos": record(QosConfig, {kind.name: choice(0, 1, 2) for kind in fields(QosConfig)}),
        "ha_discovery": record(HaDiscoveryConfig, {"enabled": boolean, "prefix": topic_level}),
    },
)

_GATEWAY = Fields(
    {
        "enabled": boolean,
        "host": text(),
        "port": listening_port,
        "max_age": number(0, 86_400),
        "allow_writes": boolean,
        "units": mapping_of(
            integer(0, 255), identifier, what="client unit id (0..255) to a device id of this bus"
        ),
    }
)


def _gateway(value: Any) -> GatewayConfig | None:
    """A gateway section turns the gateway on, unless it says `enabled: false`."""
    given = _GATEWAY({} if value is None else value)
    return GatewayConfig(**given) if given.pop("enabled", True) else None


def _device(unit_ids: tuple[int, int]) -> Reader[DeviceConfig]:
    return _named(
        DeviceConfig,
        {
            "id": identifier,
            "name": text(),
            "unit_id": integer(*unit_ids),
            "profile": text(),
            "poll_interval": number(0.1, 86_400),
            "deadband": mapping_of(text(), number(0), what="point key to a finite number >= 0"),
            "sleeps_at_night": boolean,
            "asleep_poll_interval": number(0.1, 86_400),
            "power_limit_revert": integer(1, 65534, unit="seconds"),
            "offline_after": integer(1, 1000),
        },
    )


_BUS_COMMON: dict[str, Reader[Any]] = {
    "name": identifier,
    "type": choice(*BUS_TYPES),
    "timeout": number(0.01, 60),
    "retries": integer(0, 10),
    "max_gap": integer(0, 125),
    "quarantine_retry": number(0.1, 604_800),
    "gateway": _gateway,
}
_NETWORK = {"host": text(), "port": tcp_port}
# Per bus type: its own options, those of them required, and the unit ids its devices may have.
_BY_TYPE: dict[str, tuple[dict[str, Reader[Any]], tuple[str, ...], tuple[int, int]]] = {
    "serial": (
        {
            "serial_port": text(),
            "baudrate": integer(300, 4_000_000),
            "parity": choice(*PARITIES),
            "stopbits": choice(1, 2),
            "bytesize": choice(7, 8),
        },
        ("serial_port",),
        RTU_UNIT_IDS,
    ),
    "tcp": (_NETWORK, ("host",), TCP_UNIT_IDS),
    "rtu_over_tcp": (_NETWORK, ("host",), RTU_UNIT_IDS),
    "solarman": ({**_NETWORK, "logger_serial": _logger_serial}, ("host", "logger_serial"), RTU_UNIT_IDS),
}
_BUS_FIELDS = {
    bus_type: Fields(
        {
            **_BUS_COMMON,
            **own,
            "devices": list_of(_device(unit_ids), items="devices", at_least_one="device"),
        },
        required=("name", "devices", *required),
    )
    for bus_type, (own, required, unit_ids) in _BY_TYPE.items()
}


def _bus(value: Any) -> BusConfig:
    """A bus: its `type` says which options it has."""
    if not isinstance(value, dict):
        raise refuse(value, "a map of options")
    if value.get("type") is None:
        raise Invalid("required option is missing").below("type")
    try:
        bus_type = _BUS_COMMON["type"](value["type"])
    except Invalid as err:
        raise err.below("type") from None
    given = _BUS_FIELDS[bus_type](value)
    if bus_type == "solarman":
        given.setdefault("port", SOLARMAN_PORT)
    bus = BusConfig(**given)
    if bus.gateway is not None:
        known = {device.id for device in bus.devices}
        shown = ", ".join(sorted(known)) or "none"
        unknown = [
            Problem(("gateway", "units", unit), f"{device_id!r} is not a device of this bus ({shown})")
            for unit, device_id in bus.gateway.units.items()
            if device_id not in known
        ]
        if unknown:
            raise Invalid(unknown)
    return bus


CONFIG: Reader[Config] = record(
    Config,
    {
        "collector": _named(CollectorIdentity, {"id": identifier, "name": text()}),
        "data_dir": path("a folder path"),
        "profile_dirs": profile_folders,
        "log_level": choice(*LOG_LEVELS),
        "metrics": record(MetricsConfig, {"enabled": boolean, "host": text(), "port": listening_port}),
        "mqtt": _MQTT,
        "publish": record(
            PublishConfig, {"on_change": boolean, "max_interval": number(1), "stats_interval": number(0.1)}
        ),
        "queue": record(QueueConfig, {"max_messages": integer(1, 10_000_000), "max_age": number(1)}),
        "site": record(SiteConfig, {"latitude": number(-90, 90), "longitude": number(-180, 180)}),
        "web": _web,
        "buses": list_of(_bus, items="buses", at_least_one="bus"),
    },
)


# --------------------------------------------------------------------------------------------------
# Paths


def profile_ref(ref: str, base: Path) -> str:
    """A profile given as a path is relative to the configuration's folder; ids stay as they are."""
    if ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref:
        return str((base / Path(ref).expanduser()).resolve())
    return ref


def resolved(config: Config, base: Path) -> Config:
    """`config` with every path (folders, certificate files, profiles given as files) relative to `base`."""

    def at(value: Path | None) -> Path | None:
        return None if value is None else (base / value).resolve()

    mqtt = config.mqtt
    return replace(
        config,
        data_dir=(base / config.data_dir).resolve(),
        profile_dirs=tuple((base / folder).resolve() for folder in config.profile_dirs),
        mqtt=replace(
            mqtt, ca_file=at(mqtt.ca_file), client_cert=at(mqtt.client_cert), client_key=at(mqtt.client_key)
        ),
        buses=tuple(
            replace(
                bus,
                devices=tuple(
                    replace(device, profile=profile_ref(device.profile, base)) for device in bus.devices
                ),
            )
            for bus in config.buses
        ),
    )
