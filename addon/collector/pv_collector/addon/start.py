"""The add-on's entry point: options and broker -> a validated configuration -> the collector, until SIGTERM.

Anything that keeps the collector from starting (no broker, invalid options, a serial adapter that is not
there) ends with one log line naming the problem and its exit code (`errors.ExitCode`), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pv_collector.addon.identify_at_start import identify_at_start
from pv_collector.addon.options import collector_config, given, has_old_names, migrate, read_options, redacted
from pv_collector.addon.serial_ports import check_serial_ports
from pv_collector.addon.supervisor import (
    SUPERVISOR_URL,
    Supervisor,
    fetch_self_info,
    ingress_port,
    one_line,
    resolve_broker,
    save_options,
)
from pv_collector.config import Config, validate_config
from pv_collector.errors import AddonStartError, ConfigError, ExitCode, InvalidOptions
from pv_collector.logs import configure_logging

_LOGGER = logging.getLogger("pv_collector.addon")

OPTIONS_FILE = Path("/data/options.json")
DATA_DIR = Path("/data")
CONFIG_DIR = Path("/config")  # the add-on's own config folder (`map: app_config`)
SSL_DIR = Path("/ssl")  # Home Assistant's ssl folder (`map: ssl`)


@dataclass(frozen=True, slots=True, kw_only=True)
class AddonPaths:
    """Where the add-on finds its files (overridable for tests and development)."""

    options: Path = OPTIONS_FILE
    data_dir: Path = DATA_DIR
    config_dir: Path = CONFIG_DIR
    ssl_dir: Path = SSL_DIR


def current_options(path: Path, info: dict[str, Any] | None, supervisor: Supervisor | None) -> dict[str, Any]:
    """The options of this start, every name of version 0.1 renamed.

    options.json is what the Supervisor validated against today's schema: it has already dropped the names
    of 0.1. So when the options the Supervisor still stores (`info["options"]`) hold such names, they are
    renamed, stored back (so the Configuration tab shows them under their new names) and used. Raises
    `InvalidOptions` when options.json cannot be read.
    """
    options = read_options(path)
    stored = info.get("options") if info is not None else None
    source = stored if isinstance(stored, dict) and has_old_names(stored) else options
    migrated, renamed = migrate(source)
    if renamed:
        _LOGGER.info("Options of version 0.1 renamed: %s", ", ".join(renamed))
        if supervisor is not None and source is stored:
            problem = save_options(supervisor, migrated)
            if problem is not None:
                _LOGGER.warning(
                    "The renamed options could not be stored (%s); they are renamed again at the next start",
                    problem,
                )
    result: dict[str, Any] = given(migrated)
    return result


def prepare(paths: AddonPaths, *, supervisor_url: str, token: str | None) -> tuple[dict[str, Any], Config]:
    """Everything before the collector runs: options, broker, configuration, serial ports.

    Returns the collector configuration (a dict, docs/configuration.md) and its validated `Config`. Raises
    `InvalidOptions` (exit code 2), `BrokerUnavailable` (3) or `SerialPortMissing` (4), each one line.
    """
    supervisor = Supervisor(supervisor_url, token) if token else None
    info = fetch_self_info(supervisor) if supervisor is not None else None
    options = current_options(paths.options, info, supervisor)
    identify_at_start(options, data_dir=paths.data_dir, config_dir=paths.config_dir)
    mqtt = options.get("mqtt")
    broker = resolve_broker(
        mqtt if isinstance(mqtt, dict) else {}, supervisor=supervisor, ssl_dir=paths.ssl_dir
    )
    _LOGGER.info("MQTT broker %s", broker.describe())
    config = collector_config(
        options,
        broker,
        data_dir=paths.data_dir,
        config_dir=paths.config_dir,
        ssl_dir=paths.ssl_dir,
        ingress_port=ingress_port(info) if info is not None else None,
    )
    try:
        validated = validate_config(config, base_dir=paths.config_dir)
    except ConfigError as exc:
        raise InvalidOptions(exc.messages) from None
    check_serial_ports(validated)
    return config, validated


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pv-collector addon",
        description="Start the PV Monitor collector inside the Home Assistant add-on.",
    )
    parser.add_argument("--options", type=Path, default=OPTIONS_FILE, help="add-on options (JSON)")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="persistent data folder")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, help="the add-on's config folder")
    parser.add_argument("--ssl-dir", type=Path, default=SSL_DIR, help="folder of relative certificate paths")
    parser.add_argument("--supervisor-url", default=SUPERVISOR_URL, help="Supervisor API base URL")
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the collector configuration (password redacted) as JSON and exit instead of running",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> ExitCode:
    """Entry point of `python -m pv_collector.addon` and `pv-collector addon`; returns the exit code."""
    args = _parser().parse_args(argv)
    configure_logging("info")
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
        _LOGGER.error("%s", one_line(str(exc)))
        return exc.exit_code
    if args.print_config:
        print(json.dumps(redacted(config), indent=2, sort_keys=True))
        return ExitCode.OK
    configure_logging(validated.log_level)
    _LOGGER.info(
        "Starting collector '%s': %d bus(es), %d device(s)",
        validated.collector.id,
        len(validated.buses),
        len(validated.devices),
    )
    # The collector's modules (pymodbus, aiohttp, paho) load only now: a start that ends on a bad option or
    # with --print-config answers without them.
    from pv_collector.runner import run_collector  # noqa: PLC0415

    return run_collector(validated)


if __name__ == "__main__":
    sys.exit(main())
