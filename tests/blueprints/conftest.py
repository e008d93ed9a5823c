"""Blueprint tests run in Home Assistant's test harness (no custom integration needed)."""

import custom_components.pv_monitor  # noqa: F401  (mount this repo's custom_components first; see TESTING.md)
