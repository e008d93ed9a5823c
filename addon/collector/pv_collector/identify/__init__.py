"""`pv-collector identify`: what answers on a bus, which profile fits it, and the configuration to paste.

    pv-collector identify --serial /dev/ttyUSB0            # RS-485: usual speeds, then units 1..247
    pv-collector identify --host 192.168.1.50              # TCP: ports 502, 1502, 6607, 8899
    pv-collector identify --host 192.168.1.50 --logger-serial 2712345678  # and a Solarman V5 logger on 8899
    pv-collector identify --config site.yaml [--bus NAME]  # the configured buses

The package in rooms:
- `scan`: which units answer on a serial line (settings tried in turn) or a host (ports, framings, a
  Solarman V5 logger); a unit is there when it answers a read of holding register 0 with registers or with
  a Modbus exception (a gateway's "target did not respond" and silence mean nobody is there).
- `probes`: which profile fits an answering unit (`identify_unit`): SunSpec first, then every profile's
  `identify` probes (docs/profiles.md), ranked by how many matched.
- `findings`: what was found, as plain data (`BusFinding`, `UnitFinding`, `Candidate`).
- `report`: the `buses:` entry to paste, in the format of docs/configuration.md, with what is sure and what
  is guessed in comments (`to_yaml`); the one-unit report of the collector's page (`identify_on_bus`).

Bounded: only reads (FC3/FC4) are sent, every one through a `Bus` (its lock, timeouts, no retries); the
scan's timeout is short (`scan_timeout`, from the line speed); cancelling the task (Ctrl-C) stops it after
the request on the wire, and what was found so far is kept in the `BusFinding` being filled.
"""

from pv_collector.identify.findings import BusFinding, Candidate, ProbeResult, UnitFinding
from pv_collector.identify.probes import (
    PRESENCE,
    identify_unit,
    probe_outcome,
    shipped_and_own_profiles,
    unit_is_there,
)
from pv_collector.identify.report import (
    UnitReport,
    connection_hints,
    identify_on_bus,
    to_yaml,
    yaml_text,
)
from pv_collector.identify.scan import (
    RTU_UNITS,
    SerialSetting,
    parse_units,
    quick_units,
    scan_serial,
    scan_tcp,
    scan_timeout,
    tcp_units,
    usual_settings,
)

__all__ = [
    "PRESENCE",
    "RTU_UNITS",
    "BusFinding",
    "Candidate",
    "ProbeResult",
    "SerialSetting",
    "UnitFinding",
    "UnitReport",
    "connection_hints",
    "identify_on_bus",
    "identify_unit",
    "parse_units",
    "probe_outcome",
    "quick_units",
    "scan_serial",
    "scan_tcp",
    "scan_timeout",
    "shipped_and_own_profiles",
    "tcp_units",
    "to_yaml",
    "unit_is_there",
    "usual_settings",
    "yaml_text",
]
