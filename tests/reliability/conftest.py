"""Reliability tests reuse the collector tests' real peers (simulated devices, recorder); the broker is
tests/helpers.py's."""

from tests.collector.conftest import (  # noqa: F401 - fixtures
    pty_pair,
    recorder,
    rtu_simulation,
    simulation,
)
