"""The add-on's options: reading options.json, renaming the options of version 0.1, and the collector
configuration they stand for.

Since version 0.2 the options have the collector configuration's shape (docs/configuration.md): the same
names and nesting, a subset of the keys. `collector_config` adds only what the add-on owns (the data and
profile folders, the resolved broker, the container's listening addresses, the page behind ingress); it
renames nothing, so a problem `validate_config` finds names the option as the user wrote it.

Version 0.1 used other names (`collector_id`, `qos`, `metrics_port`, a bus's `device`, ...). The Supervisor
keeps a user's saved options across an update, but drops the names the new schema does not have before it
writes options.json; `migrate` renames them (from the options the Supervisor still stores, see
`supervisor.fetch_self_info`), so nothing the user configured is lost by the update.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pv_collector.addon.supervisor import Broker, in_ssl_dir
from pv_collector.errors import InvalidOptions

_LOGGER = logging.getLogger("pv_collector.addon")

PROFILES_FOLDER = "profiles"
SHIPPED_PROFILES = Path(__file__).parents[1] / "profiles"
EXAMPLE_PROFILE = "generic_example.yaml"
ANY_ADDRESS = "0.0.0.0"  # listening inside the container: the user maps ports in the Network section
# The page is served to Home Assistant's ingress only: the Supervisor's ingress proxy, which has authenticated
# the Home Assistant user, connects from this address and nothing else may (developers.home-assistant.io,
# docs/apps/presentation.md, "Ingress": "Only connections from `172.30.32.2` must be allowed").
INGRESS_PROXY = "172.30.32.2"
REDACTED = "**REDACTED**"
CERTIFICATE_OPTIONS = ("ca_file", "client_cert", "client_key")
ADDON_OPTIONS = ("identify",)  # the add-on's own options, not the collector's (addon/DOCS.md)

# Top-level options of version 0.1 and where they live since 0.2.
_RENAMED_TOP: dict[str, tuple[str, ...]] = {
    "collector_id": ("collector", "id"),
    "collector_name": ("collector", "name"),
    "publish_on_change": ("publish", "on_change"),
    "qos": ("mqtt", "qos"),
    "metrics_port": ("metrics", "port"),
    "latitude": ("site", "latitude"),
    "longitude": ("site", "longitude"),
}
# Bus options of version 0.1 and where they live since 0.2.
_RENAMED_BUS: dict[str, tuple[str, ...]] = {
    "device": ("serial_port",),
    "gateway_port": ("gateway", "port"),
    "gateway_allow_writes": ("gateway", "allow_writes"),
}


def read_options(path: Path) -> dict[str, Any]:
    """The options the Supervisor wrote (a JSON object). Raises `InvalidOptions` naming the file's problem."""
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


def given(value: Any) -> Any:
    """`value` without what the user left empty: the Supervisor's form saves a cleared field as "" and may
    save an unfilled group as {}; both mean "not set" (the collector's default applies)."""
    if isinstance(value, dict):
        kept = {key: given(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in ("", {})}
    if isinstance(value, list):
        return [given(item) for item in value]
    return value


def has_old_names(options: Mapping[str, Any]) -> bool:
    """Whether `options` hold a name of version 0.1 (then `migrate` has something to do)."""
    buses = options.get("buses")
    return any(key in options for key in _RENAMED_TOP) or any(
        isinstance(bus, dict) and any(key in bus for key in _RENAMED_BUS)
        for bus in (buses if isinstance(buses, list) else [])
    )


def _move(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        inner = target.get(key)
        if not isinstance(inner, dict):
            inner = target[key] = {}
        target = inner
    target[path[-1]] = value


def migrate(options: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`options` with every name of version 0.1 moved to its 0.2 place, and one `old -> new` entry per
    rename (none: nothing to do). A value under an old name wins over the default the new place has (the
    Supervisor merges config.yaml's new defaults into the stored options). A metrics port or gateway port of
    0.1 turns the metrics endpoint or the gateway on, as setting it did in 0.1."""
    result = copy.deepcopy(dict(options))
    renamed: list[str] = []
    for old, new in _RENAMED_TOP.items():
        if old in result:
            value = result.pop(old)
            _move(result, new, value)
            renamed.append(f"{old} -> {'.'.join(new)}")
            if old == "metrics_port":
                _move(result, ("metrics", "enabled"), value not in (None, ""))
    buses = result.get("buses")
    for index, bus in enumerate(buses if isinstance(buses, list) else []):
        if not isinstance(bus, dict):
            continue
        gateway_on = bus.get("gateway_port") not in (None, "")
        for old, new in _RENAMED_BUS.items():
            if old in bus:
                _move(bus, new, bus.pop(old))
                renamed.append(f"buses[{index}].{old} -> buses[{index}].{'.'.join(new)}")
                if new[0] == "gateway":  # 0.1: a gateway port turned the gateway on, writes alone did not
                    _move(bus, ("gateway", "enabled"), gateway_on)
    return result, renamed


def profile_dirs(config_dir: Path) -> list[str]:
    """The user's profile folder in the add-on's config folder (none when that folder is not mounted).

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


def _mqtt(options: Any, broker: Broker, ssl_dir: Path) -> dict[str, Any]:
    """The options' `mqtt` section with the resolved broker; certificate files in the ssl folder."""
    mqtt: dict[str, Any] = dict(options) if isinstance(options, dict) else {}
    mqtt.update(host=broker.host, port=broker.port, tls=broker.tls)
    for key, value in (("username", broker.username), ("password", broker.password)):
        if value is None:
            mqtt.pop(key, None)
        else:
            mqtt[key] = value
    for key in CERTIFICATE_OPTIONS:
        if isinstance(mqtt.get(key), str):
            mqtt[key] = in_ssl_dir(mqtt[key], ssl_dir)
    return mqtt


def collector_config(
    options: Mapping[str, Any],
    broker: Broker,
    *,
    data_dir: Path,
    config_dir: Path,
    ssl_dir: Path,
    ingress_port: int | None = None,
) -> dict[str, Any]:
    """The collector configuration (docs/configuration.md) of `options` (already `given`) and `broker`.

    The options are taken as they are (without the add-on's own, `identify`); added are the data folder,
    the user's profile folder, the broker, the container's listening address for metrics and gateways, and
    with an `ingress_port` the page, served to the Supervisor's ingress proxy only. Nothing is checked
    here: `validate_config` names every problem.
    """
    config: dict[str, Any] = copy.deepcopy(dict(options))
    for key in ADDON_OPTIONS:
        config.pop(key, None)
    config["data_dir"] = str(data_dir)
    config["profile_dirs"] = profile_dirs(config_dir)
    config["mqtt"] = _mqtt(options.get("mqtt"), broker, ssl_dir)
    if isinstance(config.get("metrics"), dict):
        config["metrics"]["host"] = ANY_ADDRESS
    buses = config.get("buses")
    for bus in buses if isinstance(buses, list) else []:
        if isinstance(bus, dict) and isinstance(bus.get("gateway"), dict):
            bus["gateway"]["host"] = ANY_ADDRESS
    config.pop("web", None)
    if ingress_port is not None:  # every address of the container; only the ingress proxy gets an answer
        config["web"] = {
            "enabled": True,
            "host": ANY_ADDRESS,
            "port": ingress_port,
            "trusted_proxy": INGRESS_PROXY,
        }
    return config


def redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a collector configuration that is safe to print (the broker password replaced)."""
    copied: dict[str, Any] = json.loads(json.dumps(config))
    mqtt = copied.get("mqtt")
    if isinstance(mqtt, dict) and mqtt.get("password") is not None:
        mqtt["password"] = REDACTED
    return copied
