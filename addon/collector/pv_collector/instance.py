"""One collector per collector id: the instance claim checked before the collector connects for real.

The claim is what the contract already publishes, retained: `<base>/<cid>/status` (`online`, with the
Last Will `offline`) and the announcement `<base>/<cid>/config`, whose `collector.instance` is a random
token chosen at every start. Before its own connection, a starting collector opens a short probe
connection (another client id, same credentials and TLS), reads the retained claim and decides:

- no claim, or `status` is `offline` (clean stop, or the Last Will of a crashed one): start;
- `online` with the instance token this installation wrote to `DATA_DIR/instance` last time: that is its
  own predecessor, killed before the broker noticed (a restart after a crash): start;
- `online` with another token: watch `<base>/<cid>/#` for up to 1.5 x keep-alive + 1 s. As soon as the
  other one shows it is alive (any live, not retained, message it publishes: states, availability, stats)
  refuse with `DuplicateCollectorError` naming the other instance; if `status` turns `offline` (the Last
  Will of a dead process) start. If nothing happens at all, the claim is stale (a collector that stopped
  while the broker was away leaves `online` behind): start, with a warning.

If the broker cannot be reached for the probe, the check is skipped (logged): the collector must keep
working through a broker outage, and the queue takes its readings meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from pv_collector.atomic import write_atomically
from pv_collector.config import Config
from pv_collector.errors import DuplicateCollectorError
from pv_collector.mqtt_link import configure_client, describe_connect_error

_LOGGER = logging.getLogger(__name__)

INSTANCE_FILE = "instance"
PROBE_CONNECT_TIMEOUT = 3.0


def previous_instance(data_dir: Path) -> str | None:
    """The instance token the last collector with this data directory used (None if none)."""
    try:
        text = (data_dir / INSTANCE_FILE).read_text().strip()
    except OSError:
        return None
    return text or None


def remember_instance(data_dir: Path, instance: str) -> None:
    """Store this process's token, so that its successor recognises it after a crash."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / INSTANCE_FILE
    write_atomically(path, instance + "\n")


@dataclass
class _Probe:
    status: str | None = None
    claimed: str | None = None
    alive: str | None = None  # topic of a live (not retained) message of the other instance
    marker_seen: threading.Event = field(default_factory=threading.Event)
    connected: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)


def check_instance(config: Config, instance: str, *, wait: float | None = None) -> str:
    """Blocking: raise `DuplicateCollectorError` if another live collector holds this id.

    Returns what was decided (`free`, `stale`, `own`, `released`, `unchecked`), for the log and tests.
    `wait` overrides the 1.5 x keep-alive wait for a Last Will.
    """
    cfg = config.mqtt
    base = f"{cfg.base_topic}/{config.collector.id}"
    status_topic, config_topic = f"{base}/status", f"{base}/config"
    marker_topic = f"{base}/probe/{instance}"
    probe = _Probe()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"{config.client_id}-probe-{instance}",
        clean_session=True,
        protocol=mqtt.MQTTv311,
        reconnect_on_failure=False,
    )
    configure_client(client, cfg)

    def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(f"{base}/#", 1)])
            probe.connected.set()

    def on_subscribe(client: mqtt.Client, _u: Any, _mid: int, _codes: Any, _p: Any) -> None:
        # Retained messages are delivered right after the SUBACK; the marker arrives after them.
        client.publish(marker_topic, instance, qos=1)

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with probe.changed:
            if message.topic == marker_topic:
                probe.marker_seen.set()
            elif message.topic == status_topic:
                probe.status = message.payload.decode("utf-8", "replace")
            elif message.topic == config_topic:
                probe.claimed = _announced_instance(message.payload)
            elif not message.retain and "/set/" not in message.topic and "/probe/" not in message.topic:
                probe.alive = message.topic
            probe.changed.notify_all()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(cfg.host, cfg.port, keepalive=max(cfg.keepalive, 5))
    except OSError as err:
        _LOGGER.info(
            "broker not reachable: duplicate collector check skipped",
            extra={"error": describe_connect_error(err)},
        )
        return "unchecked"
    client.loop_start()
    try:
        answered = probe.connected.wait(PROBE_CONNECT_TIMEOUT)
        if not (answered and probe.marker_seen.wait(PROBE_CONNECT_TIMEOUT)):
            _LOGGER.info("broker did not answer the probe: duplicate collector check skipped")
            return "unchecked"
        return _decide(config, instance, probe, 1.5 * cfg.keepalive + 1.0 if wait is None else wait)
    finally:
        client.disconnect()
        client.loop_stop()


def _decide(config: Config, instance: str, probe: _Probe, wait: float) -> str:
    with probe.changed:
        if probe.status != "online":
            return "free" if probe.status is None else "released"
        claimed = probe.claimed
        if claimed is not None and claimed == previous_instance(config.data_dir):
            _LOGGER.info("taking over from this installation's previous process", extra={"instance": claimed})
            return "own"
        _LOGGER.info(
            "another instance claims this collector id: waiting for its Last Will",
            extra={"collector": config.collector.id, "instance": claimed, "wait": wait},
        )
        deadline = time.monotonic() + wait
        while probe.status == "online" and not probe.alive:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            probe.changed.wait(remaining)
        if probe.status != "online":
            return "released"
        if not probe.alive:
            _LOGGER.warning(
                "stale claim: status online but nobody publishes; starting",
                extra={"collector": config.collector.id, "instance": claimed},
            )
            return "stale"
    raise DuplicateCollectorError(
        f"another collector with collector.id '{config.collector.id}' is running "
        f"(instance {claimed or 'unknown'}, still publishing on {probe.alive}): "
        "stop it, or give this one a different collector.id"
    )


def _announced_instance(payload: bytes) -> str | None:
    try:
        announcement = json.loads(payload)
    except ValueError:
        return None
    collector = announcement.get("collector") if isinstance(announcement, dict) else None
    token = collector.get("instance") if isinstance(collector, dict) else None
    return token if isinstance(token, str) else None
