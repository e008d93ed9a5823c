"""The add-on's start step: Supervisor options + the Supervisor's MQTT service -> a running collector.

The s6 service of the Home Assistant add-on runs `python3 -m pv_collector.addon` (also reachable as
`pv-collector addon`). It reads the options the Supervisor wrote to `/data/options.json`, asks the
Supervisor for the broker of its `mqtt` service (`GET http://supervisor/services/mqtt`, authorised with
`SUPERVISOR_TOKEN`) unless the user set a broker in the options, maps both onto the collector
configuration of docs/configuration.md, validates it with `pv_collector.config.validate_config` and runs
the collector in this process until SIGTERM.

Anything that keeps the collector from starting (no broker, invalid options, a serial adapter that is
not there) ends with one log line naming the problem and a distinct exit code, never a traceback. No
secret (broker password, Supervisor token) is ever logged. Only the standard library is used for HTTP.
No Home Assistant imports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import shutil
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pv_collector.errors import CollectorError, ConfigError

if TYPE_CHECKING:
    from pv_collector.config import Config

_LOGGER = logging.getLogger("pv_collector.addon")

OPTIONS_FILE = Path("/data/options.json")
DATA_DIR = Path("/data")
CONFIG_DIR = Path("/config")  # the add-on's own config folder (`map: app_config`)
SSL_DIR = Path("/ssl")  # Home Assistant's ssl folder (`map: ssl`)
SUPERVISOR_URL = "http://supervisor"
PROFILES_FOLDER = "profiles"
SHIPPED_PROFILES = Path(__file__).parent / "profiles"
EXAMPLE_PROFILE = "generic_example.yaml"
METRICS_HOST = "0.0.0.0"
# The page is served to Home Assistant's ingress only: the Supervisor's ingress proxy, which has authenticated
# the Home Assistant user, connects from this address and nothing else may (developers.home-assistant.io,
# "Presenting your add-on", Ingress: "accepts only connections from 172.30.32.2").
INGRESS_PROXY = "172.30.32.2"
SUPERVISOR_TIMEOUT = 10.0
REDACTED = "**REDACTED**"

EXIT_OK = 0
EXIT_COLLECTOR_FAILED = 1
EXIT_INVALID_OPTIONS = 2
EXIT_NO_BROKER = 3
EXIT_SERIAL_PORT = 4

SERIAL_PORT_PATTERNS = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*", "/dev/ttyAMA*", "/dev/ttyS*")
BUS_TYPES = ("serial", "tcp", "rtu_over_tcp")
IDENTIFY_MODES = ("first_start", "every_start", "off")
IDENTIFY_RESULT = "identify.yaml"  # in the data folder: what identify proposed, and that it ran
EARLIER_START = "outbox.sqlite3"  # the collector's queue in the data folder: the app has run before


class AddonStartError(CollectorError):
    """The add-on cannot start the collector; `str(error)` is the one line to log."""

    exit_code = EXIT_COLLECTOR_FAILED


class InvalidOptions(AddonStartError):
    """The add-on options are invalid; every problem names its option."""

    exit_code = EXIT_INVALID_OPTIONS

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("Invalid options: " + "; ".join(problems))
        self.problems = list(problems)


class BrokerUnavailable(AddonStartError):
    """Neither the options nor the Supervisor's mqtt service name a broker."""

    exit_code = EXIT_NO_BROKER


class SerialPortMissing(AddonStartError):
    """A serial bus names a device that does not exist or cannot be opened."""

    exit_code = EXIT_SERIAL_PORT


@dataclass(frozen=True, slots=True, kw_only=True)
class AddonPaths:
    """Where the add-on finds its files (overridable for tests and development)."""

    options: Path = OPTIONS_FILE
    data_dir: Path = DATA_DIR
    config_dir: Path = CONFIG_DIR
    ssl_dir: Path = SSL_DIR


@dataclass(frozen=True, slots=True, kw_only=True)
class Broker:
    """The MQTT broker the collector connects to, and where that choice came from."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    source: Literal["options", "supervisor"] = "options"

    def describe(self) -> str:
        """One line for the log, without secrets."""
        origin = "from the options" if self.source == "options" else "from the Supervisor's mqtt service"
        login = "with a username" if self.username else "anonymous"
        tls = "TLS" if self.tls or self.ca_file else "no TLS"
        return f"{self.host}:{self.port} ({origin}, {login}, {tls})"


# --------------------------------------------------------------------------------------------------
# Options


def read_options(path: Path) -> dict[str, Any]:
    """The options the Supervisor wrote (a JSON object)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidOptions([f"{path} does not exist (is this running as a Home Assistant app?)"]) from None
    except OSError as exc:
        raise InvalidOptions([f"{path} cannot be read ({exc.strerror or exc})"]) from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidOptions([f"{path} is not valid JSON ({exc})"]) from None
    if not isinstance(data, dict):
        raise InvalidOptions([f"{path} must hold a JSON object, found {type(data).__name__}"])
    return data


def _given(mapping: Mapping[str, Any], key: str) -> Any:
    """An option's value, treating empty text like an option left out (the UI saves cleared fields as "")."""
    value = mapping.get(key)
    return None if value == "" else value


def _check_options(options: Mapping[str, Any]) -> None:
    """Problems the collector's own validation cannot phrase in the add-on's option names."""
    problems: list[str] = []
    buses = options.get("buses")
    if not isinstance(buses, list) or not buses:
        problems.append(
            "buses: no bus configured (add at least one bus with its devices, see the Documentation tab)"
        )
        raise InvalidOptions(problems)
    for index, bus in enumerate(buses):
        where = f"buses[{index}]"
        if not isinstance(bus, dict):
            problems.append(f"{where}: expected a bus (name, type, devices, ...)")
            continue
        bus_type = bus.get("type")
        if bus_type not in BUS_TYPES:
            problems.append(
                f"{where}.type: {bus_type!r} is not a valid value (expected one of {' | '.join(BUS_TYPES)})"
            )
        elif bus_type == "serial" and not _given(bus, "device"):
            problems.append(f"{where}.device: a serial bus needs its serial port (e.g. /dev/ttyUSB0)")
        elif bus_type != "serial" and not _given(bus, "host"):
            problems.append(
                f"{where}.host: a {bus_type} bus needs the host name or address of the device or gateway"
            )
    mqtt = options.get("mqtt")
    if mqtt is not None and not isinstance(mqtt, dict):
        problems.append("mqtt: expected the broker options (host, port, username, ...)")
    qos = options.get("qos")
    if qos is not None and not isinstance(qos, dict):
        problems.append("qos: expected state, status, discovery and commands")
    if problems:
        raise InvalidOptions(problems)


# --------------------------------------------------------------------------------------------------
# Broker


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _supervisor_message(error: urllib.error.HTTPError) -> str:
    """The `message` of a Supervisor error answer, else the HTTP reason."""
    try:
        body = json.loads(error.read().decode("utf-8", "replace"))
    except (OSError, ValueError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return _one_line(body["message"])
    return _one_line(str(error.reason))


def _supervisor_get(supervisor_url: str, token: str, path: str, timeout: float) -> Any:
    """`GET <supervisor><path>`, its JSON body. Raises `urllib.error.HTTPError`/`URLError`, `OSError`, or
    `ValueError` for an answer that is not JSON."""
    request = urllib.request.Request(
        f"{supervisor_url.rstrip('/')}{path}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the Supervisor is never proxied
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def fetch_mqtt_service(
    supervisor_url: str, token: str, *, timeout: float = SUPERVISOR_TIMEOUT
) -> dict[str, Any]:
    """`GET <supervisor>/services/mqtt`: the broker the Supervisor's mqtt service provides."""
    try:
        body = _supervisor_get(supervisor_url, token, "/services/mqtt", timeout)
    except urllib.error.HTTPError as exc:
        message = _supervisor_message(exc)
        if exc.code == 400 and "not enabled" in message.lower():
            raise BrokerUnavailable(
                "No MQTT broker: the Supervisor has no MQTT service. Install and start the Mosquitto broker "
                "app, or set the broker under 'mqtt' (host, port, username, password) in the options."
            ) from None
        if exc.code in (401, 403):
            raise BrokerUnavailable(
                f"No MQTT broker: the Supervisor refused the mqtt service to this app (HTTP {exc.code}: "
                f"{message}). Set the broker under 'mqtt' in the options."
            ) from None
        raise BrokerUnavailable(
            f"No MQTT broker: the Supervisor answered HTTP {exc.code} for /services/mqtt ({message})."
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        why = _one_line(str(reason))
        raise BrokerUnavailable(
            f"No MQTT broker: the Supervisor API at {supervisor_url} is not reachable ({why})."
        ) from None
    except ValueError:
        raise BrokerUnavailable(
            "No MQTT broker: the Supervisor's answer for /services/mqtt is not JSON."
        ) from None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BrokerUnavailable("No MQTT broker: the Supervisor's answer for /services/mqtt has no data.")
    return data


def _service_broker(data: Mapping[str, Any]) -> Broker:
    host, port = data.get("host"), data.get("port")
    if not isinstance(host, str) or not host or isinstance(port, bool) or not isinstance(port, int):
        raise BrokerUnavailable("No MQTT broker: the Supervisor's mqtt service names no host and port.")
    username, password = data.get("username"), data.get("password")
    return Broker(
        host=host,
        port=port,
        username=username if isinstance(username, str) and username else None,
        password=password if isinstance(password, str) and password else None,
        tls=data.get("ssl") is True,
        source="supervisor",
    )


def resolve_broker(
    options: Mapping[str, Any], *, supervisor_url: str, token: str | None, ssl_dir: Path
) -> Broker:
    """The broker: the one set in the options, else the Supervisor's mqtt service.

    With `mqtt.host` set the Supervisor is not asked. Without it, the service's broker is used and any
    other field set under `mqtt` (port, username, password, tls, ca_file) replaces the service's value.
    """
    raw = options.get("mqtt")
    mqtt: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    ca_file = _given(mqtt, "ca_file")
    if isinstance(ca_file, str) and not Path(ca_file).is_absolute():
        ca_file = str(ssl_dir / ca_file)
    host = _given(mqtt, "host")
    if host:
        tls = bool(_given(mqtt, "tls")) or ca_file is not None
        base = Broker(host=str(host), port=8883 if tls else 1883, tls=tls, source="options")
    elif token:
        base = _service_broker(fetch_mqtt_service(supervisor_url, token))
    else:
        raise BrokerUnavailable(
            "No MQTT broker: SUPERVISOR_TOKEN is not set (not running under the Supervisor?) and no broker "
            "is set under 'mqtt' in the options."
        )
    overrides: dict[str, Any] = {}
    for key in ("port", "username", "password", "tls"):
        value = _given(mqtt, key)
        if value is not None:
            overrides[key] = value
    if ca_file is not None:
        overrides["ca_file"] = ca_file
    return Broker(
        host=base.host,
        port=overrides.get("port", base.port),
        username=overrides.get("username", base.username),
        password=overrides.get("password", base.password),
        tls=overrides.get("tls", base.tls),
        ca_file=overrides.get("ca_file"),
        source=base.source,
    )


def fetch_ingress_port(supervisor_url: str, token: str, *, timeout: float = SUPERVISOR_TIMEOUT) -> int | None:
    """The app's ingress port (`ingress_port` of config.yaml), from `GET <supervisor>/addons/self/info`,
    which every app may call. None, with one warning, when the Supervisor does not say: the page is off then
    and the collector runs anyway."""
    try:
        body = _supervisor_get(supervisor_url, token, "/addons/self/info", timeout)
    except urllib.error.HTTPError as exc:
        why = f"HTTP {exc.code}: {_supervisor_message(exc)}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        why = _one_line(str(exc.reason if isinstance(exc, urllib.error.URLError) else exc))
    else:
        data = body.get("data") if isinstance(body, dict) else None
        port = data.get("ingress_port") if isinstance(data, dict) else None
        if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
            return port
        why = f"no ingress port in its answer ({port!r})"
    _LOGGER.warning("The app's page is off: the Supervisor did not tell its ingress port (%s)", why)
    return None


# --------------------------------------------------------------------------------------------------
# Collector configuration


def profile_dirs(config_dir: Path) -> list[str]:
    """The user's profile folder in the add-on config folder.

    Created on the first start, with the shipped commented example as `generic_example.yaml.example`
    (not a profile until copied to `<id>.yaml`).
    """
    folder = config_dir / PROFILES_FOLDER
    if config_dir.is_dir() and not folder.exists():
        try:
            folder.mkdir()
            shutil.copyfile(SHIPPED_PROFILES / EXAMPLE_PROFILE, folder / f"{EXAMPLE_PROFILE}.example")
        except OSError as exc:
            _LOGGER.warning("Cannot prepare the profile folder %s (%s)", folder, exc.strerror or exc)
    return [str(folder)] if folder.is_dir() else []


def _bus_config(bus: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"name": bus.get("name"), "type": bus.get("type")}
    if bus.get("type") == "serial":
        result["port"] = _given(bus, "device")
        keys: tuple[str, ...] = ("baudrate", "parity", "stopbits", "timeout", "retries")
    else:
        result["host"] = _given(bus, "host")
        keys = ("port", "timeout", "retries")
    for key in keys:
        value = _given(bus, key)
        if value is not None:
            result[key] = value
    gateway_port = _given(bus, "gateway_port")
    if gateway_port is not None:  # inside the container; the user maps it in the Network section
        result["gateway"] = {
            "host": "0.0.0.0",
            "port": gateway_port,
            "allow_writes": bool(_given(bus, "gateway_allow_writes")),
        }
    devices = bus.get("devices")
    result["devices"] = (
        [_device_config(device) for device in devices] if isinstance(devices, list) else devices
    )
    return result


def _device_config(device: Any) -> Any:
    if not isinstance(device, dict):
        return device
    result = {key: device[key] for key in ("id", "unit_id", "profile") if key in device}
    for key in ("name", "poll_interval", "sleeps_at_night", "power_limit_revert"):
        value = _given(device, key)
        if value is not None:
            result[key] = value
    return result


def build_collector_config(
    options: Mapping[str, Any], broker: Broker, paths: AddonPaths, ingress_port: int | None = None
) -> dict[str, Any]:
    """Map the add-on options and the broker onto the collector configuration (docs/configuration.md).

    With an `ingress_port` the collector serves its page there, to the Supervisor's ingress proxy only.
    """
    mqtt: dict[str, Any] = {"host": broker.host, "port": broker.port, "tls": broker.tls}
    if broker.username is not None:
        mqtt["username"] = broker.username
    if broker.password is not None:
        mqtt["password"] = broker.password
    if broker.ca_file is not None:
        mqtt["ca_file"] = broker.ca_file
    qos = options.get("qos")
    if isinstance(qos, dict):
        mqtt["qos"] = dict(qos)
    collector: dict[str, Any] = {"id": options.get("collector_id")}
    if _given(options, "collector_name") is not None:
        collector["name"] = options["collector_name"]
    metrics_port = _given(options, "metrics_port")
    metrics: dict[str, Any] = (
        {"enabled": True, "host": METRICS_HOST, "port": metrics_port}
        if metrics_port is not None
        else {"enabled": False}
    )
    config: dict[str, Any] = {
        "collector": collector,
        "data_dir": str(paths.data_dir),
        "profile_dirs": profile_dirs(paths.config_dir),
        "log_level": options.get("log_level", "info"),
        "metrics": metrics,
        "mqtt": mqtt,
        "publish": {"on_change": bool(options.get("publish_on_change", False))},
        "buses": [_bus_config(bus) for bus in options.get("buses", [])],
    }
    if ingress_port is not None:  # every address of the container; only the ingress proxy gets an answer
        config["web"] = {
            "enabled": True,
            "host": "0.0.0.0",
            "port": ingress_port,
            "trusted_proxy": INGRESS_PROXY,
        }
    latitude, longitude = _given(options, "latitude"), _given(options, "longitude")
    if latitude is not None or longitude is not None:  # both needed: the collector names a missing one
        config["site"] = {"latitude": latitude, "longitude": longitude}
    return config


def redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a collector configuration that is safe to print."""
    copy: dict[str, Any] = json.loads(json.dumps(config))
    if copy.get("mqtt", {}).get("password") is not None:
        copy["mqtt"]["password"] = REDACTED
    return copy


_PATH_RENAMES = (
    (re.compile(r"^collector\.id\b"), "collector_id"),
    (re.compile(r"^collector\.name\b"), "collector_name"),
    (re.compile(r"^collector\b"), "collector_id"),
    (re.compile(r"^mqtt\.qos\b"), "qos"),
    (re.compile(r"^publish\.on_change\b"), "publish_on_change"),
    (re.compile(r"^metrics\.port\b"), "metrics_port"),
)
_SERIAL_PORT_PATH = re.compile(r"^buses\[(\d+)\]\.port$")


def option_path(path: str, options: Mapping[str, Any]) -> str:
    """The add-on option behind a collector configuration path (`collector.id` -> `collector_id`)."""
    for pattern, replacement in _PATH_RENAMES:
        if pattern.search(path):
            return pattern.sub(replacement, path, count=1)
    match = _SERIAL_PORT_PATH.match(path)
    if match:
        buses = options.get("buses")
        index = int(match.group(1))
        bus = buses[index] if isinstance(buses, list) and index < len(buses) else None
        if isinstance(bus, dict) and bus.get("type") == "serial":
            return f"buses[{index}].device"
    return path


def _in_option_terms(error: ConfigError, options: Mapping[str, Any]) -> InvalidOptions:
    problems = []
    for line in error.messages:
        path, separator, rest = line.partition(": ")
        problems.append(f"{option_path(path, options)}{separator}{rest}" if separator else line)
    return InvalidOptions(problems)


def validate(config: dict[str, Any], options: Mapping[str, Any], paths: AddonPaths) -> Config:
    """`validate_config` with its problems named as add-on options."""
    from pv_collector.config import validate_config  # noqa: PLC0415 - keeps `--help` free of the collector

    try:
        return validate_config(config, base_dir=paths.config_dir)
    except ConfigError as exc:
        raise _in_option_terms(exc, options) from None


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


def check_serial_ports(options: Mapping[str, Any]) -> None:
    """Every serial bus names a device that exists and can be opened for reading and writing."""
    for index, bus in enumerate(options.get("buses", [])):
        if not isinstance(bus, dict) or bus.get("type") != "serial":
            continue
        device = str(_given(bus, "device"))
        if "://" in device:  # pyserial URL (socket://, rfc2217://): not a local device
            continue
        where = f"bus '{bus.get('name')}' (buses[{index}].device)"
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


def prepare(paths: AddonPaths, *, supervisor_url: str, token: str | None) -> tuple[dict[str, Any], Config]:
    """Everything before the collector runs: options, broker, configuration, serial ports."""
    options = read_options(paths.options)
    _check_options(options)
    identify_at_start(options, paths)
    broker = resolve_broker(options, supervisor_url=supervisor_url, token=token, ssl_dir=paths.ssl_dir)
    _LOGGER.info("MQTT broker %s", broker.describe())
    ingress_port = fetch_ingress_port(supervisor_url, token) if token else None
    config = build_collector_config(options, broker, paths, ingress_port)
    validated = validate(config, options, paths)
    check_serial_ports(options)
    return config, validated


# --------------------------------------------------------------------------------------------------
# Identify at start


def identify_due(options: Mapping[str, Any], data_dir: Path) -> bool:
    """Whether `identify` runs at this start: option `identify` is `every_start`, or `first_start` (the
    default of a new installation) and the app has not run before (no identify result, no collector
    queue in the data folder). Options without the option (written before it existed) mean `off`."""
    mode = options.get("identify", "off")
    if mode == "every_start":
        return True
    if mode != "first_start":
        return False
    return not (data_dir / IDENTIFY_RESULT).exists() and not (data_dir / EARLIER_START).exists()


async def _identify_buses(buses: Sequence[Mapping[str, Any]], profile_folders: Sequence[Path]) -> list[Any]:
    from pv_collector.identify import (  # noqa: PLC0415 - only when identify runs
        SerialSetting,
        scan_serial,
        scan_tcp,
        shipped_and_own_profiles,
        tcp_units,
        usual_settings,
    )

    def progress(line: str) -> None:
        _LOGGER.info("identify: %s", line)

    findings: list[Any] = []
    for bus in buses:
        devices = [d for d in bus.get("devices") or [] if isinstance(d, dict) and "unit_id" in d]
        if bus.get("type") == "serial":
            settings = None
            if _given(bus, "baudrate") is not None:
                first = SerialSetting(
                    baudrate=int(bus["baudrate"]),
                    parity=_given(bus, "parity") or "N",
                    stopbits=int(_given(bus, "stopbits") or 1),
                )
                settings = [first, *usual_settings(shipped_and_own_profiles(profile_folders))]
            await scan_serial(
                str(_given(bus, "device")),
                settings=settings,
                extra_dirs=profile_folders,
                progress=progress,
                findings=findings,
            )
        else:
            await scan_tcp(
                str(bus["host"]),
                ports=[int(_given(bus, "port") or 502)],
                units=sorted(
                    {*tcp_units(shipped_and_own_profiles(profile_folders)), *(d["unit_id"] for d in devices)}
                ),
                extra_dirs=profile_folders,
                progress=progress,
                findings=findings,
            )
    return findings


def _buses_to_identify(options: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The option's buses that can be scanned (a serial port that is not there is named and left out)."""
    buses: list[Mapping[str, Any]] = []
    for bus in options.get("buses", []):
        if not isinstance(bus, dict):
            continue
        if bus.get("type") == "serial":
            device = str(_given(bus, "device"))
            if not Path(device).exists():
                _LOGGER.warning("identify: serial port %s of bus '%s' is not there", device, bus.get("name"))
                continue
        elif not _given(bus, "host"):
            continue
        buses.append(bus)
    return buses


def identify_at_start(options: Mapping[str, Any], paths: AddonPaths) -> str | None:
    """Identify what answers on the option's buses (reads only) when `identify_due`, log the proposed
    `buses:` options and keep them in `<data>/identify.yaml`; returns that text (None: not due).

    Problems on the way (a port that cannot be opened, a file that cannot be written) are logged; they
    never keep the collector from starting.
    """
    if not identify_due(options, paths.data_dir):
        return None
    from pv_collector.errors import ModbusError  # noqa: PLC0415
    from pv_collector.identify import to_yaml  # noqa: PLC0415

    _LOGGER.info("identify: looking for the devices on every bus (reads only; option 'identify')")
    folders = [Path(folder) for folder in profile_dirs(paths.config_dir)]
    try:
        findings = asyncio.run(_identify_buses(_buses_to_identify(options), folders))
    except ModbusError as exc:
        _LOGGER.warning("identify: stopped: %s", _one_line(str(exc)))
        return None
    text = to_yaml(findings, serial_key="device")
    result = paths.data_dir / IDENTIFY_RESULT
    _LOGGER.info("identify: the buses option for what was found (also in %s):", result)
    sys.stderr.write(text)
    sys.stderr.flush()
    try:
        result.write_text(text, encoding="utf-8")
    except OSError as exc:
        _LOGGER.warning("identify: cannot keep the result in %s (%s)", paths.data_dir, exc.strerror or exc)
    return text


# --------------------------------------------------------------------------------------------------
# Running


async def _serve(config: Config) -> None:
    """Run the collector until SIGTERM/SIGINT (then it shuts down cleanly: status `offline`)."""
    from pv_collector.app import Collector  # noqa: PLC0415 - only needed once the options are valid

    loop = asyncio.get_running_loop()
    task = asyncio.create_task(Collector(config).run())
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pv-collector addon",
        description="Start the PV Monitor collector inside the Home Assistant add-on.",
    )
    parser.add_argument("--options", type=Path, default=OPTIONS_FILE, help="add-on options (JSON)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="persistent data folder")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help="the add-on's config folder")
    parser.add_argument("--ssl-dir", type=Path, default=SSL_DIR, help="folder of relative mqtt.ca_file paths")
    parser.add_argument("--supervisor-url", default=SUPERVISOR_URL, help="Supervisor API base URL")
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the collector configuration (password redacted) as JSON and exit instead of running",
    )
    return parser


def _configure_logging(level: str) -> None:
    """The collector's structured key=value logs on stderr (the add-on's Log tab)."""
    from pv_collector.cli import configure_logging  # noqa: PLC0415 - one log format for CLI and add-on

    configure_logging(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m pv_collector.addon` and `pv-collector addon`; returns the exit code."""
    args = _parser().parse_args(argv)
    _configure_logging("info")
    paths = AddonPaths(
        options=args.options.absolute(),
        data_dir=args.data_dir.absolute(),
        config_dir=args.config_dir.absolute(),
        ssl_dir=args.ssl_dir.absolute(),
    )
    token = os.environ.get("SUPERVISOR_TOKEN") or os.environ.get("HASSIO_TOKEN")
    try:
        config, validated = prepare(paths, supervisor_url=args.supervisor_url, token=token)
    except AddonStartError as exc:
        _LOGGER.error("%s", exc)
        return exc.exit_code
    if args.print_config:
        print(json.dumps(redacted(config), indent=2, sort_keys=True))
        return EXIT_OK
    _configure_logging(validated.log_level)
    devices = sum(len(bus.devices) for bus in validated.buses)
    _LOGGER.info(
        "Starting collector '%s': %d bus(es), %d device(s)",
        validated.collector.id,
        len(validated.buses),
        devices,
    )
    try:
        asyncio.run(_serve(validated))
    except CollectorError as exc:
        _LOGGER.error("Collector stopped: %s", _one_line(str(exc)))
        return EXIT_COLLECTOR_FAILED
    except Exception:
        _LOGGER.exception("Collector crashed")
        return EXIT_COLLECTOR_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
