"""The collector configuration (docs/configuration.md).

- `model`: the frozen dataclasses of the configuration, each owning its options' defaults;
- `schema`: the readers of its sections (built on `pv_collector.validate`);
- `rules`: rules across options (names used twice, gateway ports, files, profiles);
- `load`: the entry points `load_config` (a YAML file) and `validate_config` (a mapping, e.g. the add-on's).

The names other modules use are importable from here.
"""

from __future__ import annotations

from pv_collector.config.load import load_config, validate_config
from pv_collector.config.model import (
    ID_PATTERN,
    LOGGER_SERIAL_MAX,
    SOLARMAN_PORT,
    BusConfig,
    BusType,
    Config,
    DeviceConfig,
    GatewayConfig,
    MqttConfig,
    PublishConfig,
    SiteConfig,
    WebConfig,
)

__all__ = [
    "ID_PATTERN",
    "LOGGER_SERIAL_MAX",
    "SOLARMAN_PORT",
    "BusConfig",
    "BusType",
    "Config",
    "DeviceConfig",
    "GatewayConfig",
    "MqttConfig",
    "PublishConfig",
    "SiteConfig",
    "WebConfig",
    "load_config",
    "validate_config",
]
