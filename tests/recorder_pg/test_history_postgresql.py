"""tests/integration/test_history.py (statistics, history, back-fill) with the recorder on PostgreSQL."""

from __future__ import annotations

import pytest
from homeassistant.components.recorder import Recorder
from sqlalchemy.engine import make_url

from tests.integration.test_history import *  # noqa: F403  (the same tests and fixtures)


@pytest.fixture(autouse=True)
def recorder_is_postgresql(recorder_mock: Recorder, pytestconfig: pytest.Config) -> None:
    """No silent fall-back to SQLite: the recorder's engine talks to the PostgreSQL server."""
    assert str(pytestconfig.getoption("dburl")).startswith("postgresql://")
    assert recorder_mock.engine is not None
    assert recorder_mock.engine.dialect.name == "postgresql"
    url = make_url(str(pytestconfig.getoption("dburl")))
    assert (recorder_mock.engine.url.host, recorder_mock.engine.url.port) == (url.host, url.port)
