"""Reliability tests reuse the collector tests' real peers (Mosquitto, simulated devices, recorder)."""

from tests.collector.conftest import (  # noqa: F401 - fixtures
    broker,
    pty_pair,
    recorder,
    rtu_simulation,
    simulation,
)
