"""The Home Assistant add-on's start step: the Supervisor's options and MQTT service -> a running collector.

The s6 service of the add-on runs `python3 -m pv_collector.addon` (also reachable as `pv-collector addon`).
The options have the shape of the collector configuration (docs/configuration.md; addon/config.yaml's
`schema` is a subset of it), so they are validated by `pv_collector.config.validate_config` and every problem
names the option as the user wrote it. The add-on adds only what it owns: the data and profile folders, the
broker of the Supervisor's `mqtt` service when no broker is set, the container's listening addresses and the
page behind ingress. Options written under the names of version 0.1 are renamed once (`options.migrate`).

- `start`: the entry point, `prepare` (everything before the collector runs) and `main`;
- `options`: reading options.json, renaming old options, the collector configuration they stand for;
- `supervisor`: the Supervisor's HTTP API (the add-on's info and options, the mqtt service) and the broker;
- `serial_ports`: whether a serial bus's adapter is there.

No Home Assistant imports; only the standard library for HTTP. No secret (broker password, Supervisor token)
is ever logged.
"""

from __future__ import annotations

from pv_collector.addon.start import main

__all__ = ["main"]
