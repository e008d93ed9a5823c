"""Fixtures of the standard-discovery tests (the Home Assistant harness, its own pytest invocation).

These tests use Home Assistant's own `mqtt` integration only, but the loader still needs the project's
custom_components mounted first (else it mounts the harness's own custom_components package).
"""

import custom_components.pv_monitor  # noqa: F401, I001

from collections.abc import AsyncIterator

import pytest
from pv_collector.simulator import Simulation
from tests.collector.conftest import FIXED_TIME
from tests.deprecation_guard import pytest_runtest_setup, pytest_runtest_teardown  # noqa: F401
from tests.mosquitto import Mosquitto


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(broker: Mosquitto, enable_custom_integrations: None) -> None:
    """The broker comes before `hass` so that it is torn down after it."""


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The MQTT integration leaves its periodic timer behind."""
    return True


@pytest.fixture
async def simulation(socket_enabled: None) -> AsyncIterator[tuple[Simulation, int]]:
    """The simulated devices over Modbus TCP on a free port, with a frozen clock."""
    sim = Simulation(latitude=52.52, longitude=13.405, seed=1, clock=lambda: FIXED_TIME)
    port = await sim.start("127.0.0.1", 0)
    try:
        yield sim, port
    finally:
        await sim.stop()


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A configuration folder of the test's own: set-up installs the alert blueprints into it."""
    return hass_tmp_config_dir
