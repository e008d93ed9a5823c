"""Device profiles: YAML data files (docs/profiles.md) loaded and validated into `model.Profile`.

- `schema`: the readers of a profile's fields (built on `pv_collector.validate`);
- `points`: points, and the rules across their fields and the points they name;
- `probes`: identify probes, and the rules across their fields;
- `load`: finding and loading profiles (by id or path), the rules of the whole profile, SunSpec points.
"""

from __future__ import annotations

from pv_collector.profile.load import (
    RATED_POWER_UNITS,
    SHIPPED_DIR,
    build_sunspec_points,
    counter_rate_problems,
    list_profiles,
    load_profile,
    read_yaml_document,
)

__all__ = [
    "RATED_POWER_UNITS",
    "SHIPPED_DIR",
    "build_sunspec_points",
    "counter_rate_problems",
    "list_profiles",
    "load_profile",
    "read_yaml_document",
]
