"""Fixtures of the harness measurements: a real Mosquitto, custom integrations on, MQTT timers allowed."""

# The integration must be imported before anything else: otherwise the loader mounts the harness's own
# custom_components package and never finds pv_monitor.
import custom_components.pv_monitor  # noqa: F401, I001

import os

import pytest

from tests.deprecation_guard import pytest_runtest_setup, pytest_runtest_teardown  # noqa: F401
from tests.helpers import broker  # noqa: F401 - the fixture (requested before `hass`)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "broker_config(text): extra Mosquitto configuration lines for `broker`"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The broker publishes its `$SYS` counters every second (bench/harness/load_publisher.py reads the
    dropped messages from them)."""
    for item in items:
        item.add_marker(pytest.mark.broker_config("sys_interval 1\n"))


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """pv_monitor loads (the broker comes first), except for Home Assistant's own MQTT path
    (BENCH_PATH=mqtt or a `mqtt` test parameter): a user without pv_monitor has no such integration."""
    request.getfixturevalue("broker")
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
