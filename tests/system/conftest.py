"""System tests, in two pytest invocations:

    .venv/bin/python -m pytest -p no:homeassistant tests/system    # brokers, bridge, collectors
    .venv/bin/python -m pytest tests/system                         # the *_ha.py tests (HA's harness)

Each invocation collects only its own files, so both can be given the whole folder.
"""

from pathlib import Path

import pytest

from tests.deprecation_guard import pytest_runtest_setup, pytest_runtest_teardown  # noqa: F401


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "site_broker(text): extra configuration lines for the site broker")
    if config.pluginmanager.has_plugin("homeassistant"):
        # The integration must be imported before any test module, or the harness's loader mounts its
        # own custom_components package and never finds pv_monitor.
        import custom_components.pv_monitor  # noqa: F401


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """`*_ha.py` only with Home Assistant's pytest plugin, every other test file only without it."""
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    needs_ha = collection_path.stem.endswith("_ha")
    has_ha = config.pluginmanager.has_plugin("homeassistant")
    return True if needs_ha != has_ha else None


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A configuration folder of the test's own: set-up installs the alert blueprints into it."""
    return hass_tmp_config_dir
