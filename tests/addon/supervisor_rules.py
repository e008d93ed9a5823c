"""The Home Assistant Supervisor's rules for add-on ("app") repositories, re-created for the tests.

Re-created from home-assistant/supervisor at 090ef31 (2026-08-21): `supervisor/apps/validate.py`
(`_SCHEMA_APP_CONFIG`, `_migrate_app_config`, `_warn_app_config`, `SCHEMA_ELEMENT`,
`SCHEMA_APP_TRANSLATIONS`), `supervisor/apps/options.py` (`RE_SCHEMA_ELEMENT`, `AppOptions`: how the
options are checked against the schema before every start), `supervisor/store/validate.py`
(`SCHEMA_REPOSITORY_CONFIG`), `supervisor/store/data.py` (`_find_app_configs`: which files are taken as
add-ons) and `supervisor/utils/apparmor.py` (one `profile` per file). The Supervisor itself cannot be
installed here (it needs its whole runtime), so the rules that concern this repository are copied with
the same voluptuous building blocks; hardware lookups for `device(...)` options use a given device list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import voluptuous as vol
from awesomeversion import AwesomeVersion

ARCH_ALL = ["aarch64", "amd64"]
ARCH_DEPRECATED = ["armhf", "armv7", "i386"]
ARCH_ALL_COMPAT = ARCH_ALL + ARCH_DEPRECATED
STARTUP = ["initialize", "system", "services", "application", "once"]
BOOT_CONFIG = ["auto", "manual", "manual_only"]
STAGE = ["stable", "experimental", "deprecated"]
BACKUP_MODE = ["hot", "cold"]
ROLE_ALL = ["default", "homeassistant", "backup", "manager", "admin"]
CAPABILITIES = [
    "BPF",
    "CHECKPOINT_RESTORE",
    "DAC_READ_SEARCH",
    "IPC_LOCK",
    "NET_ADMIN",
    "NET_RAW",
    "PERFMON",
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
]
MAPPING_TYPES = [
    "data",
    "config",
    "ssl",
    "local_apps",
    "backup",
    "share",
    "media",
    "homeassistant_config",
    "all_app_configs",
    "app_config",
    "addons",
    "all_addon_configs",
    "addon_config",
]
LEGACY_MAP_TYPES = {
    "addons": "local_apps",
    "all_addon_configs": "all_app_configs",
    "addon_config": "app_config",
}
CONFIG_SUFFIXES = (".yaml", ".yml", ".json")

RE_SLUG_FIELD = re.compile(r"^[-_.A-Za-z0-9]+$")
RE_VOLUME = re.compile(
    r"^(data|config|ssl|local_apps|addons|backup|share|media|homeassistant_config|all_app_configs"
    r"|all_addon_configs|app_config|addon_config)(?::(rw|ro))?$"
)
RE_SERVICE = re.compile(r"^(?P<service>mqtt|mysql):(?P<rights>provide|want|need)$")
RE_SCHEMA_ELEMENT = re.compile(
    r"^(?:"
    r"|bool"
    r"|email"
    r"|url"
    r"|port"
    r"|device(?:\((?P<filter>subsystem=[a-z]+)\))?"
    r"|str(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    r"|password(?:\((?P<p_min>\d+)?,(?P<p_max>\d+)?\))?"
    r"|int(?:\((?P<i_min>-?\d+)?,(?P<i_max>-?\d+)?\))?"
    r"|float(?:\((?P<f_min>-?\d*\.?\d+)?,(?P<f_max>-?\d*\.?\d+)?\))?"
    r"|match\((?P<match>.*)\)"
    r"|list\((?P<list>.+)\)"
    r")\??$"
)
_LENGTH_PARTS = ("i_min", "i_max", "f_min", "f_max", "s_min", "s_max", "p_min", "p_max")

network_port = vol.All(vol.Coerce(int), vol.Range(min=1, max=65535))
docker_port = vol.All(str, vol.Match(r"^\d+(?:/tcp|/udp)?$"))
docker_ports = vol.Schema({docker_port: vol.Maybe(network_port)})
docker_ports_description = vol.Schema({docker_port: str})


def version_tag(value: Any) -> AwesomeVersion | None:
    """The Supervisor's `version_tag`."""
    return None if value is None else AwesomeVersion(value)


SCHEMA_ELEMENT = vol.Schema(
    vol.Any(
        vol.Match(RE_SCHEMA_ELEMENT),
        [vol.Any(vol.Match(RE_SCHEMA_ELEMENT), {str: vol.Self})],  # a list may not directly hold a list
        {str: vol.Self},
    )
)


def migrate_app_config(config: Any) -> dict[str, Any]:
    """`_migrate_app_config`: the part that shapes `map` entries (string form -> dict form)."""
    if not isinstance(config, dict):
        raise vol.Invalid("App config must be a dictionary!")
    if not config.get("name"):
        raise vol.Invalid("Invalid app config!")
    volumes = []
    for entry in config.get("map", []):
        if isinstance(entry, dict) and "type" in entry:
            volumes.append(entry)
        elif isinstance(entry, str) and (result := RE_VOLUME.match(entry)):
            volumes.append({"type": result.group(1), "read_only": result.group(2) != "rw"})
        else:
            raise vol.Invalid(f"invalid map entry (the Supervisor skips it with a warning): {entry!r}")
    return {**config, "map": volumes}


def advisories(config: dict[str, Any]) -> list[str]:
    """What `_warn_app_config` / `_migrate_app_config` would log as deprecated or questionable."""
    found = []
    if "advanced" in config:
        found.append("deprecated 'advanced' field")
    if config.get("full_access") and any(config.get(key) for key in ("devices", "uart", "usb", "gpio")):
        found.append("full_access makes the device options redundant")
    if config.get("backup") == "cold" and (config.get("backup_pre") or config.get("backup_post")):
        found.append("cold backups ignore backup_pre/backup_post")
    if deprecated := [arch for arch in config.get("arch", []) if arch in ARCH_DEPRECATED]:
        found.append(f"deprecated arch values {deprecated}")
    if "codenotary" in config:
        found.append("deprecated 'codenotary' field")
    for volume in config.get("map", []):
        kind = volume["type"] if isinstance(volume, dict) else RE_VOLUME.sub(r"\1", str(volume))
        if kind in LEGACY_MAP_TYPES:
            found.append(f"legacy map type {kind!r}, use {LEGACY_MAP_TYPES[kind]!r}")
        if kind == "config":
            found.append("deprecated map type 'config', use 'homeassistant_config'")
    for old in (
        "startup_before",
        "auto_uart",
        "snapshot",
        "snapshot_exclude",
        "snapshot_pre",
        "snapshot_post",
    ):
        if old in config:
            found.append(f"deprecated field {old!r}")
    if config.get("startup") in ("before", "after"):
        found.append("deprecated startup value")
    return found


_SCHEMA_APP_CONFIG = vol.Schema(
    {
        vol.Required("name"): str,
        vol.Required("version"): version_tag,
        vol.Required("slug"): vol.Match(RE_SLUG_FIELD),
        vol.Required("description"): str,
        vol.Required("arch"): [vol.In(ARCH_ALL_COMPAT)],
        vol.Optional("machine"): vol.All([str], vol.Unique()),
        vol.Optional("url"): vol.Url(),
        vol.Optional("startup", default="application"): vol.In(STARTUP),
        vol.Optional("boot", default="auto"): vol.In(BOOT_CONFIG),
        vol.Optional("init", default=True): vol.Boolean(),
        vol.Optional("advanced", default=False): vol.Boolean(),
        vol.Optional("stage", default="stable"): vol.In(STAGE),
        vol.Optional("ports"): docker_ports,
        vol.Optional("ports_description"): docker_ports_description,
        vol.Optional("watchdog"): vol.Match(
            r"^(?:https?|\[PROTO:\w+\]|tcp):\/\/\[HOST\]:(\[PORT:\d+\]|\d+).*$"
        ),
        vol.Optional("webui"): vol.Match(r"^(?:https?|\[PROTO:\w+\]):\/\/\[HOST\]:\[PORT:\d+\].*$"),
        vol.Optional("ingress", default=False): vol.Boolean(),
        vol.Optional("ingress_port", default=8099): vol.Any(network_port, vol.Equal(0)),
        vol.Optional("ingress_entry"): str,
        vol.Optional("ingress_stream", default=False): vol.Boolean(),
        vol.Optional("panel_icon", default="mdi:puzzle"): str,
        vol.Optional("panel_title"): str,
        vol.Optional("panel_admin", default=True): vol.Boolean(),
        vol.Optional("homeassistant"): version_tag,
        vol.Optional("host_network", default=False): vol.Boolean(),
        vol.Optional("host_pid", default=False): vol.Boolean(),
        vol.Optional("host_ipc", default=False): vol.Boolean(),
        vol.Optional("host_uts", default=False): vol.Boolean(),
        vol.Optional("host_dbus", default=False): vol.Boolean(),
        vol.Optional("devices"): [str],
        vol.Optional("udev", default=False): vol.Boolean(),
        vol.Optional("tmpfs", default=False): vol.Boolean(),
        vol.Optional("map", default=list): [
            vol.Schema(
                {
                    vol.Required("type"): vol.In(MAPPING_TYPES),
                    vol.Optional("read_only", default=True): bool,
                    vol.Optional("path"): str,
                }
            )
        ],
        vol.Optional("environment"): {vol.Match(r"\w*"): str},
        vol.Optional("privileged"): [vol.In(CAPABILITIES)],
        vol.Optional("apparmor", default=True): vol.Boolean(),
        vol.Optional("full_access", default=False): vol.Boolean(),
        vol.Optional("audio", default=False): vol.Boolean(),
        vol.Optional("video", default=False): vol.Boolean(),
        vol.Optional("gpio", default=False): vol.Boolean(),
        vol.Optional("usb", default=False): vol.Boolean(),
        vol.Optional("uart", default=False): vol.Boolean(),
        vol.Optional("devicetree", default=False): vol.Boolean(),
        vol.Optional("kernel_modules", default=False): vol.Boolean(),
        vol.Optional("realtime", default=False): vol.Boolean(),
        vol.Optional("hassio_api", default=False): vol.Boolean(),
        vol.Optional("hassio_role", default="default"): vol.In(ROLE_ALL),
        vol.Optional("homeassistant_api", default=False): vol.Boolean(),
        vol.Optional("stdin", default=False): vol.Boolean(),
        vol.Optional("legacy", default=False): vol.Boolean(),
        vol.Optional("docker_api", default=False): vol.Boolean(),
        vol.Optional("auth_api", default=False): vol.Boolean(),
        vol.Optional("services"): [vol.Match(RE_SERVICE)],
        vol.Optional("discovery"): [str],
        vol.Optional("backup_exclude"): [str],
        vol.Optional("backup_pre"): str,
        vol.Optional("backup_post"): str,
        vol.Optional("backup", default="hot"): vol.In(BACKUP_MODE),
        vol.Optional("options", default={}): dict,
        vol.Optional("schema", default={}): vol.Any(vol.Schema({str: SCHEMA_ELEMENT}), False),
        vol.Optional("image"): vol.Match(r"^[a-z0-9{][a-z0-9.\-_{}/]*$"),
        vol.Optional("ulimits", default=dict): dict,
        vol.Optional("timeout", default=10): vol.All(vol.Coerce(int), vol.Range(min=10, max=300)),
        vol.Optional("journald", default=False): vol.Boolean(),
        vol.Optional("breaking_versions", default=list): [version_tag],
    },
    extra=vol.REMOVE_EXTRA,
)
KNOWN_APP_KEYS = frozenset(str(key) for key in _SCHEMA_APP_CONFIG.schema)

SCHEMA_APP_CONFIG = vol.All(migrate_app_config, _SCHEMA_APP_CONFIG)

SCHEMA_TRANSLATION_CONFIGURATION = vol.Schema(
    {
        vol.Required("name"): str,
        vol.Optional("description"): vol.Maybe(str),
        vol.Optional("fields"): {str: vol.Self},
    },
    extra=vol.REMOVE_EXTRA,
)
SCHEMA_APP_TRANSLATIONS = vol.Schema(
    {
        vol.Optional("configuration"): {str: SCHEMA_TRANSLATION_CONFIGURATION},
        vol.Optional("network"): {str: str},
    },
    extra=vol.REMOVE_EXTRA,
)

SCHEMA_REPOSITORY_CONFIG = vol.Schema(
    {vol.Required("name"): str, vol.Optional("url"): vol.Url(), vol.Optional("maintainer"): str},
    extra=vol.REMOVE_EXTRA,
)


class AppOptions:
    """`supervisor.apps.options.AppOptions`: options checked against the add-on's schema.

    `devices` stands in for the host's hardware list (`device(...)` options must name one of them).
    Unknown options are collected in `unknown` (the Supervisor drops them with a warning).
    """

    def __init__(self, raw_schema: dict[str, Any], devices: Iterable[str] = ()) -> None:
        self.raw_schema = raw_schema
        self.devices = set(devices)
        self.unknown: list[str] = []

    def __call__(self, struct: dict[str, Any]) -> dict[str, Any]:
        options = {}
        for key, value in struct.items():
            if key not in self.raw_schema:
                self.unknown.append(key)
                continue
            options[key] = self._validate_element(self.raw_schema[key], value, key)
        self._check_missing_options(self.raw_schema, options, "root")
        return options

    def _validate_element(self, typ: Any, value: Any, key: str) -> Any:
        if isinstance(typ, list):
            if not isinstance(value, list):
                raise vol.Invalid(f"Invalid list for option '{key}'")
            return [self._validate_element(typ[0], element, key) for element in value]
        if isinstance(typ, dict):
            if not isinstance(value, dict):
                raise vol.Invalid(f"Invalid dict for option '{key}'")
            options = {}
            for c_key, c_value in value.items():
                if c_key not in typ:
                    self.unknown.append(f"{key}.{c_key}")
                    continue
                options[c_key] = self._validate_element(typ[c_key], c_value, c_key)
            self._check_missing_options(typ, options, key)
            return options
        return self._single_validate(typ, value, key)

    def _single_validate(self, typ: str, value: Any, key: str) -> Any:
        if value is None:
            raise vol.Invalid(f"Missing required option '{key}'")
        match = RE_SCHEMA_ELEMENT.match(typ)
        if not match:
            raise vol.Invalid(f"Unknown type '{typ}'")
        range_args = {name[2:]: float(match.group(name)) for name in _LENGTH_PARTS if match.group(name)}
        validators: dict[str, Callable[[Any], Any]] = {
            "str": vol.All(str, vol.Length(**range_args)),
            "password": vol.All(str, vol.Length(**range_args)),
            "int": vol.All(vol.Coerce(int), vol.Range(**range_args)),
            "float": vol.All(vol.Coerce(float), vol.Range(**range_args)),
            "bool": vol.Boolean(),
            "email": vol.Email(),
            "url": vol.Url(),
            "port": network_port,
        }
        for prefix, validator in validators.items():
            if typ.startswith(prefix):
                return validator(value)
        if typ.startswith("match"):
            return vol.Match(match.group("match"))(str(value))
        if typ.startswith("list"):
            return vol.In(match.group("list").split("|"))(str(value))
        if typ.startswith("device"):
            if not isinstance(value, str) or value not in self.devices:
                raise vol.Invalid(f"Device '{value}' does not exist")
            return value
        raise vol.Invalid(f"Fatal error for option '{key}' with type '{typ}'")

    @staticmethod
    def _check_missing_options(origin: dict[str, Any], exists: dict[str, Any], root: str) -> None:
        for missing in set(origin) - set(exists):
            schema = origin[missing]
            if isinstance(schema, list) and schema:
                schema = schema[0]
            if isinstance(schema, str) and schema.endswith("?"):
                continue
            raise vol.Invalid(f"Missing option '{missing}' in {root}")


def find_app_configs(files: Iterable[PurePosixPath]) -> list[PurePosixPath]:
    """`StoreData._find_app_configs`: files the Supervisor validates as add-on configurations."""
    return [
        path
        for path in files
        if path.name.startswith("config.")  # the Supervisor globs `**/config.*`
        and path.suffix in CONFIG_SUFFIXES
        and not any(part.startswith(".") or part == "rootfs" for part in path.parts)
    ]


RE_PROFILE = re.compile(r"^profile ([^ ]+).*$")


def apparmor_profiles(profile_file: Path) -> set[str]:
    """`get_profile_name`: the Supervisor wants exactly one top-level profile per apparmor.txt."""
    lines = profile_file.read_text(encoding="utf-8").splitlines()
    return {match.group(1) for line in lines if (match := RE_PROFILE.match(line))}
