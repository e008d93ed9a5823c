"""Read retained messages from the broker (announcements, device states) with a short-lived paho client."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .processes import StackError


def retained(
    host: str, port: int, topic_filter: str, timeout: float = 5.0, settle: float = 0.3
) -> dict[str, bytes]:
    """Retained payloads under `topic_filter`, by topic.

    Waits until at least one retained message arrived and none came for `settle` s, or `timeout` s.
    """
    messages: dict[str, bytes] = {}
    last = [time.monotonic()]
    subscribed = threading.Event()
    lock = threading.Lock()

    def on_connect(client: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if not reason.is_failure:
            client.subscribe(topic_filter, qos=1)

    def on_subscribe(*_args: Any) -> None:
        last[0] = time.monotonic()
        subscribed.set()

    def on_message(_client: mqtt.Client, _ud: Any, message: mqtt.MQTTMessage) -> None:
        if message.retain:
            with lock:
                messages[message.topic] = message.payload
                last[0] = time.monotonic()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, port, keepalive=30)
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with lock:
                quiet = time.monotonic() - last[0] >= settle
                if subscribed.is_set() and messages and quiet:
                    break
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    with lock:
        return dict(messages)


def announcements(
    host: str, port: int, base_topic: str = "pv_monitor", timeout: float = 5.0
) -> list[dict[str, Any]]:
    """Every retained collector announcement (docs/mqtt-contract.md), parsed."""
    found = retained(host, port, f"{base_topic}/+/config", timeout)
    result = []
    for topic, payload in sorted(found.items()):
        if not payload:
            continue
        try:
            result.append(json.loads(payload))
        except ValueError as err:
            raise StackError(f"{topic}: announcement is not JSON: {err}") from None
    return result


def device_states(
    host: str, port: int, collector_id: str, base_topic: str = "pv_monitor", timeout: float = 5.0
) -> dict[str, dict[str, Any]]:
    """The retained state message of every device of one collector, by device id."""
    found = retained(host, port, f"{base_topic}/{collector_id}/+/state", timeout)
    return {topic.split("/")[-2]: json.loads(payload) for topic, payload in found.items() if payload}
