"""Fixtures of the harness measurements: a real Mosquitto, custom integrations on, MQTT timers allowed."""

# The integration must be imported before anything else: otherwise the loader mounts the harness's own
# custom_components package and never finds pv_monitor (see ../shared/TESTING.md).
import custom_components.pv_monitor  # noqa: F401, I001

from collections.abc import Generator
from pathlib import Path

import pytest

from tests.mosquitto import Mosquitto


@pytest.fixture
def broker(socket_enabled: None, tmp_path: Path) -> Generator[Mosquitto]:
    """A Mosquitto on a free 127.0.0.1 port (requested before `hass`, so torn down after it)."""
    mosquitto = Mosquitto(tmp_path / "mosquitto")
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(broker: Mosquitto, enable_custom_integrations: None) -> None:
    """pv_monitor loads; the broker comes first."""


@pytest.fixture
def expected_lingering_timers() -> bool:
    """Home Assistant's MQTT client leaves a periodic timer behind."""
    return True
