"""Blueprint tests run in Home Assistant's test harness (no custom integration needed)."""

import custom_components.pv_monitor  # noqa: F401  (mount this repo's custom_components before the harness's)
from tests.deprecation_guard import pytest_runtest_setup, pytest_runtest_teardown  # noqa: F401
