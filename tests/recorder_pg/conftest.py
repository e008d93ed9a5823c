"""The historian's tests against a real PostgreSQL server instead of the harness's default SQLite.

Run with the Home Assistant plugin (not `-p no:homeassistant`), either against a server of your own:

    scripts/pg start /tmp/pv-pg                       # prints postgresql://postgres@127.0.0.1:PORT/pvtest
    .venv/bin/python -m pytest --dburl "$(scripts/pg url /tmp/pv-pg)" tests/recorder_pg
    scripts/pg stop /tmp/pv-pg

or without `--dburl`: then this conftest starts a throw-away cluster with scripts/pg for the session and
points the harness's `--dburl` at it. Every test asserts that the recorder really runs on PostgreSQL.
"""

# The integration must be imported before anything else (tests/integration/conftest.py says why).
import custom_components.pv_monitor  # noqa: F401, I001

import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import *  # noqa: F403  (the integration's fixtures, unchanged)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg"


def pytest_configure(config: pytest.Config) -> None:
    """Start a throw-away PostgreSQL cluster unless `--dburl` already names a PostgreSQL database."""
    url = str(config.getoption("dburl"))
    if url.startswith("postgresql://"):
        return
    if url != "sqlite://":
        raise pytest.UsageError(f"tests/recorder_pg: --dburl {url!r} is not a postgresql:// URL")
    directory = tempfile.mkdtemp(prefix="pv-monitor-pg-")
    try:
        started = subprocess.run(
            [str(SCRIPT), "start", directory], check=True, capture_output=True, text=True, timeout=120
        )
    except subprocess.CalledProcessError as err:
        raise pytest.UsageError(f"tests/recorder_pg: scripts/pg start failed: {err.stderr.strip()}") from err
    config.add_cleanup(lambda: subprocess.run([str(SCRIPT), "stop", directory], check=False, timeout=120))
    config.option.dburl = started.stdout.strip()


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A configuration folder of the test's own: set-up installs the alert blueprints into it."""
    return hass_tmp_config_dir
