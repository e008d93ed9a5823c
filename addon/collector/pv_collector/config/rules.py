"""Rules across the options of a configuration: names used twice, gateways on one port, files and folders that
must exist, and the profiles the devices name. Each returns its problems (`validate.Problem`), none when the
rule holds.

`duplicate_problems` and `profile_problems` look at the options as written, so that they are reported
together with the problems of single options; the others need the configuration read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pv_collector.config.model import Config
from pv_collector.config.schema import profile_ref
from pv_collector.datadir import data_dir_problem
from pv_collector.errors import ProfileError
from pv_collector.profile import load_profile
from pv_collector.validate import Key, Problem, format_path


def _listed(data: Any, key: str) -> list[Any]:
    """`data[key]` when `data` is a map and that is a list; else nothing."""
    items = data.get(key) if isinstance(data, dict) else None
    return items if isinstance(items, list) else []


def _devices(data: Any) -> list[tuple[list[Key], dict[str, Any]]]:
    """Every device map as written, with its path."""
    return [
        (["buses", bus_index, "devices", device_index], raw_device)
        for bus_index, raw_bus in enumerate(_listed(data, "buses"))
        for device_index, raw_device in enumerate(_listed(raw_bus, "devices"))
        if isinstance(raw_device, dict)
    ]


def duplicate_problems(data: Any) -> list[Problem]:
    """A bus name or a device id used twice, named where it is used again."""
    problems: list[Problem] = []
    seen_buses: dict[str, str] = {}
    for index, raw_bus in enumerate(_listed(data, "buses")):
        name = raw_bus.get("name") if isinstance(raw_bus, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen_buses:
            problems.append(
                Problem(("buses", index, "name"), f"{name!r} is used by another bus ({seen_buses[name]})")
            )
        else:
            seen_buses[name] = format_path(["buses", index])
    seen_devices: dict[str, str] = {}
    for where, raw_device in _devices(data):
        device_id = raw_device.get("id")
        if not isinstance(device_id, str):
            continue
        if device_id in seen_devices:
            message = f"{device_id!r} is used by another device ({seen_devices[device_id]})"
            problems.append(Problem((*where, "id"), message))
        else:
            seen_devices[device_id] = format_path(where)
    return problems


def profile_problems(data: Any, profile_dirs: Sequence[Path], base: Path) -> list[Problem]:
    """Every device's profile loads; its deadband keys are points of the profile."""
    problems: list[Problem] = []
    for where, raw_device in _devices(data):
        ref = raw_device.get("profile")
        if not isinstance(ref, str):
            continue
        try:
            profile = load_profile(profile_ref(ref, base), profile_dirs)
        except ProfileError as exc:
            problems.append(Problem((*where, "profile"), str(exc) if ref in str(exc) else f"{ref!r}: {exc}"))
            continue
        deadband = raw_device.get("deadband")
        if profile.sunspec_base is not None or not isinstance(deadband, dict):
            continue  # SunSpec points are only known after discovery
        keys = {point.key for point in profile.points}
        problems.extend(
            Problem((*where, "deadband", key), f"unknown point of profile {profile.id!r}")
            for key in deadband
            if key not in keys
        )
    return problems


def gateway_port_problems(config: Config) -> list[Problem]:
    """No two gateways listen on one address and port."""
    problems: list[Problem] = []
    seen: dict[tuple[str, int], str] = {}
    for index, bus in enumerate(config.buses):
        if bus.gateway is None or bus.gateway.port == 0:
            continue
        where = (bus.gateway.host, bus.gateway.port)
        if where in seen:
            message = f"{bus.gateway.port} is used by another gateway ({seen[where]})"
            problems.append(Problem(("buses", index, "gateway", "port"), message))
        else:
            seen[where] = f"bus {bus.name}"
    return problems


def file_problems(config: Config) -> list[Problem]:
    """The data folder can be used, the certificate files and profile folders are there."""
    problems: list[Problem] = []
    if (problem := data_dir_problem(config.data_dir)) is not None:
        problems.append(Problem(("data_dir",), f"'{config.data_dir}' {problem}"))
    for key in ("ca_file", "client_cert", "client_key"):
        value: Path | None = getattr(config.mqtt, key)
        if value is not None and not value.is_file():
            problems.append(Problem(("mqtt", key), f"'{value}' is not a readable file"))
    if config.mqtt.client_key is not None and config.mqtt.client_cert is None:
        problems.append(Problem(("mqtt", "client_key"), "needs mqtt.client_cert as well"))
    problems.extend(
        Problem(("profile_dirs", index), f"'{folder}' is not a folder")
        for index, folder in enumerate(config.profile_dirs)
        if not folder.is_dir()
    )
    return problems
