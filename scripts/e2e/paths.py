"""Where the repository and the Home Assistant under test are; importable by any virtualenv (no project
packages needed), so helpers that run under `.venv-ha-next` can use it."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The virtualenv whose `hass` runs: PV_HASS_VENV (relative to the repository), `.venv` by default, or
# `.venv-ha-next` for the newest Home Assistant release (scripts/setup, scripts/test). The collector and
# the simulator always run from .venv.
HASS_VENV = ROOT / os.environ.get("PV_HASS_VENV", ".venv")
