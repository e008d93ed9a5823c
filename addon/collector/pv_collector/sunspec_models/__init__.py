"""SunSpec model definitions: the SunSpec Alliance's own, with PV Monitor's meaning laid over them.

The facts of every model come from the SunSpec Alliance's JSON model definitions as the `pysunspec2`
package ships them (a profile folder may add a vendor's model the package lacks); what a point means to
PV Monitor comes from one small data file, `profiles/sunspec/overlay.yaml`; every point the overlay does
not name is published under a generated key as an advanced diagnostic. Offsets (`Point.address`) count
from the first register after the model's ID and length registers. Raises `ProfileError` (one line per
problem, naming the file and the point) for a definition or overlay that cannot be used.

This package does it by job: `definitions` reads the SunSpec definitions (`PointDef`, `GroupDef`,
`list_sunspec_models`); `overlay` reads and checks the overlay (`overlay_entries`); `layout` lays a model
out into our points (offsets, types, keys, names, symbols, units, scale factors, `Condition`s);
`model_def` puts the three together (`SunSpecModelDef`, `load_sunspec_model`).
"""

from .definitions import HEADER_POINTS, LIBRARY_DIR, SUNSPEC_DIRNAME, GroupDef, PointDef, list_sunspec_models
from .layout import (
    HA_UNITS,
    MAX_GENERATED_KEY,
    MAX_NAME,
    SKIPPED_TYPES,
    Condition,
    generated_key,
    ha_unit,
    snake_case,
    symbol_name,
)
from .model_def import SunSpecModelDef, load_sunspec_model
from .overlay import OVERLAY_FILE, WHEN, overlay_entries

__all__ = [
    "HA_UNITS",
    "HEADER_POINTS",
    "LIBRARY_DIR",
    "MAX_GENERATED_KEY",
    "MAX_NAME",
    "OVERLAY_FILE",
    "SKIPPED_TYPES",
    "SUNSPEC_DIRNAME",
    "WHEN",
    "Condition",
    "GroupDef",
    "PointDef",
    "SunSpecModelDef",
    "generated_key",
    "ha_unit",
    "list_sunspec_models",
    "load_sunspec_model",
    "overlay_entries",
    "snake_case",
    "symbol_name",
]
