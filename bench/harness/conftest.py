"""Fixtures of the harness measurements: a real Mosquitto, custom integrations on, MQTT timers allowed."""

# The integration must be imported before anything else: otherwise the loader mounts the harness's own
# custom_components package and never finds pv_monitor.
import custom_components.pv_monitor  # noqa: F401, I001

import os
from collections.abc import Generator
from pathlib import Path

import pytest

from tests.deprecation_guard import pytest_runtest_setup, pytest_runtest_teardown  # noqa: F401
from tests.mosquitto import Mosquitto


@pytest.fixture
def broker(socket_enabled: None, tmp_path: Path) -> Generator[Mosquitto]:
    """A Mosquitto on a free 127.0.0.1 port (requested before `hass`, so torn down after it); its `$SYS`
    counters are published every second (bench/harness/load_publisher.py reads the dropped messages)."""
    mosquitto = Mosquitto(tmp_path / "mosquitto", extra_config="sys_interval 1\n")
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(broker: Mosquitto, request: pytest.FixtureRequest) -> None:
    """pv_monitor loads (the broker comes first), except for Home Assistant's own MQTT path
    (BENCH_PATH=mqtt or a `mqtt` test parameter): a user without pv_monitor has no such integration."""
    callspec = getattr(request.node, "callspec", None)
    path = callspec.params.get("path") if callspec is not None else os.environ.get("BENCH_PATH")
    if path != "mqtt":
        request.getfixturevalue("enable_custom_integrations")


@pytest.fixture
def expected_lingering_timers() -> bool:
    """Home Assistant's MQTT client leaves a periodic timer behind."""
    return True


@pytest.fixture(autouse=True)
def enable_event_loop_debug() -> None:
    """The harness turns asyncio's debug mode on for tests (slow-callback checks on every callback); a
    real Home Assistant runs without it, so measurements do too."""
