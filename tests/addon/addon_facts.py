"""What Home Assistant's developer documentation says an app (add-on) and its repository must be, as checks.

Written for this project from the documentation's words, not from the Supervisor's code. Source:
developers.home-assistant.io at commit 186ad06 (2026-08-19):

- docs/apps/configuration.md: "App configuration" (required and optional keys, `arch`, `map`, `ports`,
  `services`, the note that the Supervisor searches the repository recursively for `config.yaml`),
  "Options / Schema" (the element types, `?` for optional, "If any default value is given, the option becomes
  a required value", "Nested arrays and dictionaries are supported with a maximum depth of two"), "App
  translations" (`configuration` keys match the schema's, `network` keys match `ports`);
- docs/apps/repository.md: "Repository configuration" (`repository.yaml`: `name` required, `url`,
  `maintainer`);
- docs/apps/presentation.md: "AppArmor" (the profile in `apparmor.txt` is named after the slug), "Ingress".

Where the Supervisor has moved on from the documentation, the comment says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

REQUIRED_KEYS: Mapping[str, type] = {
    "name": str,
    "version": str,
    "slug": str,
    "description": str,
    "arch": list,
}
OPTIONAL_KEYS = frozenset(
    {
        "machine", "url", "startup", "webui", "boot", "ports", "ports_description", "host_network",
        "host_ipc", "host_dbus", "host_pid", "host_uts", "devices", "homeassistant", "hassio_role",
        "hassio_api", "homeassistant_api", "docker_api", "privileged", "full_access", "apparmor", "map",
        "environment", "audio", "video", "gpio", "usb", "uart", "udev", "devicetree", "kernel_modules",
        "stdin", "legacy", "options", "schema", "image", "timeout", "tmpfs", "discovery", "services",
        "auth_api", "ingress", "ingress_port", "ingress_entry", "ingress_stream", "panel_icon",
        "panel_title", "panel_admin", "backup", "backup_pre", "backup_post", "backup_exclude", "stage",
        "init", "watchdog", "realtime", "journald", "breaking_versions", "ulimits"
    }
)  # fmt: skip
ARCHITECTURES = frozenset({"aarch64", "amd64"})
STARTUP = frozenset({"initialize", "system", "services", "application", "once"})
BOOT = frozenset({"auto", "manual", "manual_only"})
# The documented `map` types; since the add-on -> app rename the Supervisor names the add-on's own and all
# add-ons' config folders `app_config` / `all_app_configs` (the old names still work, with a warning).
MAP_TYPES = frozenset(
    {"homeassistant_config", "addon_config", "app_config", "ssl", "addons", "backup", "share", "media",
     "all_addon_configs", "all_app_configs", "data"}
)  # fmt: skip
SERVICE = re.compile(r"^[a-z]+:(provide|want|need)$")
PORT_KEY = re.compile(r"^\d+/(tcp|udp)$")
MAX_DEPTH = 2

# The documented option types: str, bool, int, float (with optional bounds), email, url, password, port,
# match(REGEX), list(val1|val2|...), device / device(subsystem=TYPE); `?` makes an option optional.
_NUMBER = r"-?\d+(?:\.\d+)?"
ELEMENT = re.compile(
    r"^(?:bool|email|url|port"
    r"|(?:str|password)(?:\((?P<s_min>\d+)?,(?P<s_max>\d+)?\))?"
    rf"|(?P<number>int|float)(?:\((?P<n_min>{_NUMBER})?,(?P<n_max>{_NUMBER})?\))?"
    r"|match\((?P<match>.+)\)"
    r"|list\((?P<list>[^|()]+(?:\|[^|()]+)*)\)"
    r"|device(?:\(subsystem=(?P<subsystem>[a-z]+)\))?"
    r")(?P<optional>\?)?$"
)


def config_problems(config: Mapping[str, Any]) -> list[str]:
    """What config.yaml gets wrong against "App configuration" (none: [])."""
    problems = [
        f"{key}: required, a {kind.__name__}"
        for key, kind in REQUIRED_KEYS.items()
        if not isinstance(config.get(key), kind)
    ]
    problems += [
        f"{key}: not a documented key"
        for key in config
        if key not in REQUIRED_KEYS and key not in OPTIONAL_KEYS
    ]
    problems += [
        f"arch: {arch!r} is not supported" for arch in config.get("arch", []) if arch not in ARCHITECTURES
    ]
    if config.get("startup", "application") not in STARTUP:
        problems.append(f"startup: {config['startup']!r} is not one of {sorted(STARTUP)}")
    if config.get("boot", "auto") not in BOOT:
        problems.append(f"boot: {config['boot']!r} is not one of {sorted(BOOT)}")
    for index, volume in enumerate(config.get("map", [])):
        kind = volume.get("type") if isinstance(volume, dict) else None
        if kind not in MAP_TYPES or not isinstance(volume.get("read_only", True), bool):
            problems.append(f"map[{index}]: {volume!r} is not {{type: <a map type>, read_only: true|false}}")
    for section in ("ports", "ports_description"):
        for key, value in config.get(section, {}).items():
            good = value is None or isinstance(value, int) if section == "ports" else isinstance(value, str)
            if not PORT_KEY.match(str(key)) or not good:
                problems.append(f"{section}: {key}: {value!r}")
    problems += [
        f"services: {s!r} is not service:function" for s in config.get("services", []) if not SERVICE.match(s)
    ]
    port = config.get("ingress_port", 8099)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        problems.append(f"ingress_port: {port!r} is not a port")
    return problems


def schema_problems(schema: Mapping[str, Any], depth: int = 0, where: str = "") -> list[str]:
    """What `schema` gets wrong against "Options / Schema": unknown types, lists not holding exactly one
    element, nesting deeper than two (a dict, or a list of dicts, is one level)."""
    problems: list[str] = []
    for key, value in schema.items():
        path = f"{where}{key}"
        element = value
        if isinstance(value, list):
            if len(value) != 1 or isinstance(value[0], list):
                problems.append(f"{path}: a list holds exactly one element type or one dict")
                continue
            element = value[0]
        if isinstance(element, dict):
            if depth + 1 > MAX_DEPTH:
                problems.append(f"{path}: nested deeper than {MAX_DEPTH} levels")
            problems += schema_problems(element, depth + 1, f"{path}.")
        elif not isinstance(element, str) or not ELEMENT.match(element):
            problems.append(f"{path}: {element!r} is not a documented option type")
    return problems


def leaves(schema: Mapping[str, Any], where: str = "") -> dict[str, str]:
    """Every option of `schema` by its dotted path (list items without an index): its type."""
    found: dict[str, str] = {}
    for key, value in schema.items():
        element = value[0] if isinstance(value, list) else value
        if isinstance(element, dict):
            found.update(leaves(element, f"{where}{key}."))
        else:
            found[f"{where}{key}"] = element
    return found


def default_problems(options: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """What config.yaml's `options` get wrong: a default for an option the schema does not have, or for an
    optional one ("If any default value is given, the option becomes a required value")."""
    types = leaves(schema)
    problems = []
    for path, value in _given_leaves(options):
        typ = types.get(path)
        if typ is None:
            problems.append(f"{path}: default for an option the schema does not have")
        elif typ.endswith("?"):
            problems.append(f"{path}: a default makes the optional option required")
        else:
            problems += option_problems({path.rpartition(".")[2]: value}, {path.rpartition(".")[2]: typ})
    return problems


def _given_leaves(options: Mapping[str, Any], where: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in options.items():
        if isinstance(value, dict):
            yield from _given_leaves(value, f"{where}{key}.")
        elif not isinstance(value, list):  # a list default is the list itself (e.g. an empty bus list)
            yield f"{where}{key}", value


def option_problems(
    values: Mapping[str, Any], schema: Mapping[str, Any], *, devices: Iterable[str] = (), where: str = ""
) -> list[str]:
    """What user options `values` get wrong against `schema`, by the documented types: a missing required
    option, a value of the wrong type or out of its bounds, a `device` that is not there. Options the
    schema does not have are named too (the Supervisor drops them with a warning)."""
    present = set(devices)
    problems: list[str] = []
    for key, value in values.items():
        if key not in schema:
            problems.append(f"{where}{key}: not in the schema (dropped)")
            continue
        typ = schema[key]
        if isinstance(typ, list):
            if not isinstance(value, list):
                problems.append(f"{where}{key}: expected a list")
                continue
            for index, item in enumerate(value):
                problems += _item_problems(item, typ[0], present, f"{where}{key}[{index}]")
        elif isinstance(typ, dict):
            if not isinstance(value, dict):
                problems.append(f"{where}{key}: expected a dict")
                continue
            problems += option_problems(value, typ, devices=present, where=f"{where}{key}.")
        else:
            problem = _element_problem(typ, value, present)
            if problem:
                problems.append(f"{where}{key}: {problem}")
    for key, typ in schema.items():
        element = typ[0] if isinstance(typ, list) else typ
        if key not in values and isinstance(element, str) and not element.endswith("?"):
            problems.append(f"{where}{key}: required")
    return problems


def _item_problems(item: Any, typ: Any, devices: set[str], where: str) -> list[str]:
    if isinstance(typ, dict):
        if not isinstance(item, dict):
            return [f"{where}: expected a dict"]
        return option_problems(item, typ, devices=devices, where=f"{where}.")
    problem = _element_problem(typ, item, devices)
    return [f"{where}: {problem}"] if problem else []


def _element_problem(typ: str, value: Any, devices: set[str]) -> str | None:
    match = ELEMENT.match(typ)
    if match is None:
        return f"{typ!r} is not a documented type"
    name = re.match(r"[a-z]+", typ)[0]  # type: ignore[index]
    if name in ("str", "password", "email", "url"):
        low, high = int(match["s_min"] or 0), int(match["s_max"] or 10**9)
        return None if isinstance(value, str) and low <= len(value) <= high else f"{value!r} is not a {typ}"
    if name == "bool":
        return None if isinstance(value, bool) else f"{value!r} is not true or false"
    if name in ("int", "float"):
        number = (int,) if name == "int" else (int, float)
        low = float(match["n_min"]) if match["n_min"] else float("-inf")
        high = float(match["n_max"]) if match["n_max"] else float("inf")
        good = isinstance(value, number) and not isinstance(value, bool) and low <= value <= high
        return None if good else f"{value!r} is not a {typ}"
    if name == "port":
        good = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
        return None if good else f"{value!r} is not a port"
    if name == "match":
        return (
            None
            if isinstance(value, str) and re.match(match["match"], value)
            else f"{value!r} does not match"
        )
    if name == "list":
        return None if value in match["list"].split("|") else f"{value!r} is not one of {match['list']}"
    return None if value in devices else f"{value!r} is not a device of the host"


def translation_problems(
    translation: Mapping[str, Any], schema: Mapping[str, Any], ports: Iterable[str]
) -> list[str]:
    """What a translations/<language>.yaml gets wrong against "App translations": every schema key has a
    `name` and a `description` (nested options under `fields`), no key the schema does not have, `network`
    names the ports."""
    problems = _configuration_problems(translation.get("configuration", {}), schema, "")
    if set(translation.get("network", {})) != set(ports):
        problems.append(f"network: {sorted(translation.get('network', {}))} is not {sorted(ports)}")
    return problems


def _configuration_problems(entries: Mapping[str, Any], schema: Mapping[str, Any], where: str) -> list[str]:
    problems = [f"{where}{key}: not translated" for key in schema if key not in entries]
    for key, entry in entries.items():
        element = schema.get(key)
        element = element[0] if isinstance(element, list) else element
        if element is None:
            problems.append(f"{where}{key}: not an option")
            continue
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("description"):
            problems.append(f"{where}{key}: needs a name and a description")
            continue
        if isinstance(element, dict):
            problems += _configuration_problems(entry.get("fields", {}), element, f"{where}{key}.")
    return problems


def repository_problems(repository: Any) -> list[str]:
    """What repository.yaml gets wrong against "Repository configuration"."""
    if not isinstance(repository, dict) or not isinstance(repository.get("name"), str):
        return ["name: required"]
    return [f"{key}: not a documented key" for key in repository if key not in ("name", "url", "maintainer")]


def apparmor_profile_names(text: str) -> set[str]:
    """The names of the top-level profiles of an apparmor.txt (`profile NAME flags=(...) {`)."""
    return set(re.findall(r"(?m)^profile\s+([^\s{]+)", text))


def app_config_files(files: Iterable[PurePosixPath]) -> list[PurePosixPath]:
    """The files the Supervisor would take for app configurations: it searches the repository recursively
    for `config.yaml` (also `.yml`, `.json`); files inside hidden folders and an app's rootfs are not the
    repository's apps."""
    return [
        path
        for path in files
        if path.name in ("config.yaml", "config.yml", "config.json")
        and not any(part.startswith(".") or part == "rootfs" for part in path.parts)
    ]
