"""The configuration's entry points: `load_config(path)` reads the CLI's YAML file, `validate_config(data)`
validates a mapping built elsewhere (the add-on builds one from its options).

Every problem is one line of a `ConfigError`, naming the option's path (`buses[0].devices[1].unit_id`), what
is wrong and what is allowed; secrets are never shown.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pv_collector.config.model import Config
from pv_collector.config.rules import (
    duplicate_problems,
    file_problems,
    gateway_port_problems,
    profile_problems,
)
from pv_collector.config.schema import CONFIG, profile_folders, resolved
from pv_collector.errors import ConfigError
from pv_collector.validate import Invalid, Problems
from pv_collector.yaml_file import YamlFileError, read_yaml

_LOGGER = logging.getLogger(__name__)


def validate_config(data: Any, *, base_dir: Path | None = None, check_profiles: bool = True) -> Config:
    """Validate a configuration mapping; relative paths are taken from `base_dir` (default: cwd).

    Raises `ConfigError` listing every problem, one line each.
    """
    base = base_dir or Path.cwd()
    problems = Problems()
    config: Config | None = None
    with problems.at():
        config = resolved(CONFIG(data), base)
    problems.extend(duplicate_problems(data))
    if check_profiles:
        folders = config.profile_dirs if config is not None else _profile_dirs(data, base)
        problems.extend(profile_problems(data, folders, base))
    if config is not None and not problems:
        problems.extend(gateway_port_problems(config))
        problems.extend(file_problems(config))
    if config is None or problems:
        raise ConfigError(Invalid(problems.found).lines(data))
    return config


def _profile_dirs(data: Any, base: Path) -> tuple[Path, ...]:
    """The profile folders of a configuration that has problems: none when they are among them."""
    raw = data.get("profile_dirs") if isinstance(data, dict) else None
    try:
        folders = profile_folders(raw) if raw is not None else ()
    except Invalid:
        return ()
    return tuple((base / folder).resolve() for folder in folders)


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
