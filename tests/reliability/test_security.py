"""Security against a real Mosquitto with a password file and TLS listeners (certificates generated here):
username/password, TLS with a CA file, TLS with a client certificate; a wrong password and an untrusted
certificate each give ONE clear error line and retries with backoff (no crash loop, the collector keeps
polling and queueing); a fixed password file is picked up without user action and nothing is lost; and
secrets never appear in the log, the announcement, the stats message or the /metrics page."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pv_collector.simulator import Simulation
from tests.collector.conftest import SIM_DEVICES, collector_config, running
from tests.helpers import eventually
from tests.mosquitto import free_port
from tests.reliability.security import SecureBroker, Subscriber

BASE = "pv_monitor/test"
USER = "pv-collector"
PASSWORD = "Tr0ub4dor&3-n0t-in-logs"
ROOT = Path(__file__).resolve().parents[2]
WEATHER = [device for device in SIM_DEVICES if device["id"] == "weather"]


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[SecureBroker]:
    broker = SecureBroker.create(tmp_path / "secure", USER, PASSWORD)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def mqtt_options(secure: SecureBroker, mode: str, password: str = PASSWORD) -> dict[str, Any]:
    """The `mqtt` section for one listener of the secure broker."""
    options: dict[str, Any] = {"username": USER, "password": password}
    if mode == "password":
        options["port"] = secure.broker.port
    elif mode == "tls":
        options |= {"port": secure.tls_port, "ca_file": str(secure.pki.ca)}
    elif mode == "client_certificate":
        options |= {
            "port": secure.mtls_port,
            "ca_file": str(secure.pki.ca),
            "client_cert": str(secure.pki.client_cert),
            "client_key": str(secure.pki.client_key),
        }
    elif mode == "untrusted":
        options |= {"port": secure.tls_port, "ca_file": str(secure.pki.rogue_ca)}
    return options


def seqs(subscriber: Subscriber) -> list[int]:
    import json

    return [json.loads(payload)["seq"] for payload in subscriber.on(f"{BASE}/weather/state")]


@pytest.mark.parametrize("mode", ["password", "tls", "client_certificate"])
async def test_collector_connects_with_credentials_and_tls(
    tmp_path: Path, secure: SecureBroker, simulation: tuple[Simulation, int], mode: str
) -> None:
    _, port = simulation
    subscriber = Subscriber(secure.broker.port, f"{BASE}/#")
    subscriber.start()
    config = collector_config(tmp_path / "data", 0, port, devices=WEATHER, mqtt=mqtt_options(secure, mode))
    try:
        async with running(config) as collector:
            publisher = collector.publisher
            assert publisher is not None
            await eventually(lambda: publisher.connected, what=f"connected ({mode})")
            await eventually(lambda: len(seqs(subscriber)) >= 2, what="states through the secured listener")
            assert subscriber.on(f"{BASE}/status")[-1] == b"online"
            assert collector.metrics.errors.get("mqtt_connect", 0) == 0
    finally:
        subscriber.stop()
    listener = {"password": secure.broker.port, "tls": secure.tls_port}.get(mode, secure.mtls_port)
    assert secure.connection_attempts(listener) >= 1, "the collector used the listener under test"


async def _refusals(collector: Any, count: int) -> list[int]:
    """The weather station's readings so far (its sequence number, one every 0.2 s) at each of the collector's
    first `count` failed connection attempts: the collector's own cycles are the clock, never the wall's."""
    outbox = collector.outbox
    assert outbox is not None
    marks: list[int] = []

    def probe() -> bool:
        seen = collector.metrics.errors.get("mqtt_connect", 0)
        marks.extend([outbox.last_seq("weather")] * (seen - len(marks)))
        return len(marks) >= count

    await eventually(probe, what=f"{count} failed connection attempts")
    return marks[:count]


def _check_backoff(marks: list[int]) -> None:
    gaps = [later - earlier for earlier, later in itertools.pairwise(marks)]
    # paho's reconnect delay doubles (0.5, 1, 2, ... 30 s): a crash loop would retry at a constant pace.
    # (The first poll waits up to 2 s for the broker: the first gaps may hold no reading.)
    assert gaps[-1] > 1.5 * gaps[-2], f"no backoff between attempts (readings between them): {gaps}"


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR and record.name.startswith("pv_collector")
    ]


async def test_wrong_password_one_error_backoff_and_recovery(
    tmp_path: Path,
    secure: SecureBroker,
    simulation: tuple[Simulation, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, port = simulation
    caplog.set_level(logging.INFO, logger="pv_collector")
    secure.set_password(USER, "the-old-password")  # the broker does not know the collector's password yet
    subscriber = Subscriber(secure.broker.port, f"{BASE}/#")
    subscriber.start()
    config = collector_config(
        tmp_path / "data", 0, port, devices=WEATHER, mqtt=mqtt_options(secure, "password")
    )
    try:
        async with running(config) as collector:
            _check_backoff(await _refusals(collector, 4))
            errors = _errors(caplog)
            assert len(errors) == 1, errors
            assert "refused" in errors[0]
            reasons = [str(getattr(r, "reason", "")) for r in caplog.records if r.levelno >= logging.ERROR]
            assert any("authori" in reason.lower() for reason in reasons), reasons
            # every counted attempt reached the broker; besides them only the start-up probe, the
            # subscriber and the broker's own readiness check
            refused = collector.metrics.errors["mqtt_connect"]
            await eventually(  # the broker's log file is written after the fact: wait for its lines
                lambda: secure.connection_attempts(secure.broker.port) >= refused - 1, what="the broker's log"
            )
            assert secure.connection_attempts(secure.broker.port) <= refused + 4
            outbox = collector.outbox
            assert outbox is not None
            assert outbox.last_seq("weather") >= 2, "the collector keeps polling and queueing"
            # Fix the broker (new password file + SIGHUP): the collector gets in at its next retry.
            secure.set_password(USER, PASSWORD)
            publisher = collector.publisher
            assert publisher is not None
            await eventually(lambda: publisher.connected, within=40, what="reconnect after the fix")
            last = outbox.last_seq("weather")
            await eventually(
                lambda: max(seqs(subscriber), default=0) >= last, what="queued readings delivered"
            )
            assert len(_errors(caplog)) == 1, "nothing more went wrong"
    finally:
        subscriber.stop()
    unique = list(dict.fromkeys(seqs(subscriber)))
    assert unique == list(range(1, unique[-1] + 1)), f"readings lost during the refusal: {unique}"


async def test_untrusted_certificate_one_error_and_backoff(
    tmp_path: Path,
    secure: SecureBroker,
    simulation: tuple[Simulation, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, port = simulation
    caplog.set_level(logging.INFO, logger="pv_collector")
    config = collector_config(
        tmp_path / "data", 0, port, devices=WEATHER, mqtt=mqtt_options(secure, "untrusted")
    )
    async with running(config) as collector:
        _check_backoff(await _refusals(collector, 4))
        errors = _errors(caplog)
        assert len(errors) == 1, errors
        record = next(r for r in caplog.records if r.levelno >= logging.ERROR)
        assert "not trusted" in str(getattr(record, "error", "")), vars(record)
        assert "mqtt.ca_file" in str(getattr(record, "error", ""))
        assert collector.publisher is not None
        assert not collector.publisher.connected
        assert collector.outbox is not None
        assert collector.outbox.last_seq("weather") >= 2
        refused = collector.metrics.errors["mqtt_connect"]
        # Mosquitto's log file is written after the fact: wait for its lines. The start-up probe is one
        # attempt more, and the next attempt may have begun.
        await eventually(
            lambda: secure.connection_attempts(secure.tls_port) >= refused - 1, what="the broker's log"
        )
        assert secure.connection_attempts(secure.tls_port) <= refused + 2


# ------------------------------------------------------------------------------------------ secrets


def _start_process(config: dict[str, Any], directory: Path) -> tuple[subprocess.Popen[bytes], Path]:
    path = directory / "collector.yaml"
    path.write_text(yaml.safe_dump(config))
    log = directory / "collector.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "addon/collector")}
    with log.open("wb") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "pv_collector", "run", "--config", str(path)],
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=env,
        )
    return process, log


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


async def test_secrets_never_in_logs_announcement_stats_or_metrics(
    tmp_path: Path, secure: SecureBroker, simulation: tuple[Simulation, int]
) -> None:
    """A real collector process at debug level, with a failed login first, then a client-certificate
    connection: the password, the key's path and the key itself appear nowhere it publishes or logs."""
    _, port = simulation
    secure.set_password(USER, "the-old-password")
    metrics_port = free_port()
    config = collector_config(
        tmp_path / "data",
        0,
        port,
        devices=WEATHER,
        mqtt=mqtt_options(secure, "client_certificate"),
        metrics={"enabled": True, "host": "127.0.0.1", "port": metrics_port},
        log_level="debug",
    )
    key_path = str(secure.pki.client_key)
    key_lines = secure.pki.client_key.read_text().splitlines()
    key_body = [line for line in key_lines if line and not line.startswith("-----")]
    secrets = [PASSWORD, key_path, secure.pki.client_key.name, *key_body]
    subscriber = Subscriber(secure.broker.port, f"{BASE}/#")
    subscriber.start()
    process, log = _start_process(config, tmp_path)
    try:
        await eventually(
            lambda: "refused the connection" in log.read_text() or process.poll() is not None,
            within=15,
            what="a failed login",
        )
        assert process.poll() is None, log.read_text()
        secure.set_password(USER, PASSWORD)
        await eventually(
            lambda: subscriber.on(f"{BASE}/stats") and subscriber.on(f"{BASE}/config") and seqs(subscriber),
            within=40,
            what="stats, announcement and a state after the fix",
        )
        page = await asyncio.to_thread(_fetch, f"http://127.0.0.1:{metrics_port}/metrics")
        assert "pv_collector" in page
    finally:
        subscriber.stop()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    text = log.read_text()
    assert text.count("refused the connection") == 1, text
    assert "connected to the MQTT broker" in text
    published = {
        "log": text,
        "announcement": b"\n".join(subscriber.on(f"{BASE}/config")).decode(),
        "stats": b"\n".join(subscriber.on(f"{BASE}/stats")).decode(),
        "everything published": subscriber.everything().decode(errors="replace"),
        "metrics": page,
    }
    for where, content in published.items():
        assert content, f"{where} is empty: the search would prove nothing"
        for secret in secrets:
            assert secret not in content, f"a secret ({secret[:6]}...) appears in the {where}"
